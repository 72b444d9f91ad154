import RetortModel

// The shape of a student built by pruning a teacher. Dimension names as in `LlamaConfig`:
// L layers, D width, H query heads, G key/value heads, E head width, F MLP width, V vocabulary.
// A student keeps the teacher's E, V, tokenizer, RoPE base, norm ε and context length; it changes
// L, D, H, G and F, each at most the teacher's.

/// A bad student shape, pruning plan or importance record: `field` names what is wrong
/// (`dim`, `kv-heads`, `keptLayers`, …), `source` the input it came from.
public struct PruningError: Error, CustomStringConvertible, Equatable, Sendable {
    public let source: String
    public let field: String
    public let message: String

    public init(source: String, field: String, message: String) {
        self.source = source
        self.field = field
        self.message = message
    }

    public var description: String { "\(source): \(field): \(message)" }
}

/// Student width and depth: `layers` (L), `dim` (D), `heads` (H), `kvHeads` (G), `ffn` (F).
/// The head width E is the teacher's, so the attention width H·E shrinks with H.
public struct StudentShape: Codable, Equatable, Sendable, CustomStringConvertible {
    public var layers: Int
    public var dim: Int
    public var heads: Int
    public var kvHeads: Int
    public var ffn: Int

    public init(layers: Int, dim: Int, heads: Int, kvHeads: Int, ffn: Int) {
        self.layers = layers
        self.dim = dim
        self.heads = heads
        self.kvHeads = kvHeads
        self.ffn = ffn
    }

    /// Named presets for SmolLM2-135M-class teachers (L=30, D=576, H/G=9/3, E=64, F=1536,
    /// V=49,152 tied: 134,515,008 parameters). Counts include the tied V×D embedding:
    ///
    /// | name | L | D | H/G | F | parameters | of the teacher |
    /// |---|---|---|---|---|---|---|
    /// | `tiny` | 8 | 256 | 3/1 | 768 | 18,354,432 | 13.6% |
    /// | `small` (default) | 12 | 384 | 6/2 | 1024 | 37,758,336 | 28.1% |
    /// | `medium` | 16 | 448 | 6/2 | 1216 | 55,523,776 | 41.3% |
    /// | `half-depth` | 15 | 576 | 9/3 | 1536 | 81,413,568 | 60.5% |
    ///
    /// `half-depth` prunes only depth (every width is the teacher's): the depth-only comparison.
    public static let presets: [(name: String, shape: StudentShape)] = [
        ("tiny", StudentShape(layers: 8, dim: 256, heads: 3, kvHeads: 1, ffn: 768)),
        ("small", StudentShape(layers: 12, dim: 384, heads: 6, kvHeads: 2, ffn: 1024)),
        ("medium", StudentShape(layers: 16, dim: 448, heads: 6, kvHeads: 2, ffn: 1216)),
        ("half-depth", StudentShape(layers: 15, dim: 576, heads: 9, kvHeads: 3, ffn: 1536)),
    ]

    /// The default student: `small`, ≤ 30% of SmolLM2-135M's parameters.
    public static let defaultPresetName = "small"
    public static var `default`: StudentShape { preset(named: defaultPresetName)! }

    public static func preset(named name: String) -> StudentShape? {
        presets.first { $0.name == name }?.shape
    }

    /// The field names `parse` accepts, in the order `description` writes them.
    public static let fieldNames = ["layers", "dim", "heads", "kv-heads", "ffn"]

    /// A preset name, or an explicit shape `layers=12,dim=384,heads=6,kv-heads=2,ffn=1024`
    /// (every field once, any order, no spaces needed). Errors name the field.
    public static func parse(_ text: String, source: String = "--student") throws(PruningError) -> StudentShape {
        let trimmed = text.trimmingWhitespace
        if let preset = preset(named: trimmed) { return preset }
        guard trimmed.contains("=") else {
            throw PruningError(source: source, field: "preset",
                               message: "unknown preset '\(trimmed)' (presets: \(presets.map(\.name).joined(separator: ", ")); "
                                   + "or an explicit shape such as \(StudentShape.default))")
        }
        var values: [String: Int] = [:]
        for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = pair[0].description.trimmingWhitespace
            guard fieldNames.contains(key) else {
                throw PruningError(source: source, field: key.isEmpty ? "(empty)" : key,
                                   message: "unknown field (fields: \(fieldNames.joined(separator: ", ")))")
            }
            guard pair.count == 2 else { throw PruningError(source: source, field: key, message: "missing '=value'") }
            let raw = pair[1].description.trimmingWhitespace
            guard let value = Int(raw) else {
                throw PruningError(source: source, field: key, message: "'\(raw)' is not an integer")
            }
            guard value > 0 else { throw PruningError(source: source, field: key, message: "\(value) must be positive") }
            guard values[key] == nil else { throw PruningError(source: source, field: key, message: "given twice") }
            values[key] = value
        }
        for key in fieldNames where values[key] == nil {
            throw PruningError(source: source, field: key, message: "missing (an explicit shape needs \(fieldNames.joined(separator: ", ")))")
        }
        return StudentShape(layers: values["layers"]!, dim: values["dim"]!, heads: values["heads"]!,
                            kvHeads: values["kv-heads"]!, ffn: values["ffn"]!)
    }

    public var description: String { "layers=\(layers),dim=\(dim),heads=\(heads),kv-heads=\(kvHeads),ffn=\(ffn)" }

    /// Checks that this shape can be cut out of `teacher`: every count positive and at most the
    /// teacher's, G divides H, and the query heads per kv head (H/G) at most the teacher's, so each
    /// student group is a subset of one teacher group.
    public func validate(teacher t: LlamaConfig, source: String = "--student") throws(PruningError) {
        func check(_ ok: Bool, _ field: String, _ message: String) throws(PruningError) {
            if !ok { throw PruningError(source: source, field: field, message: message) }
        }
        try check(layers >= 1 && layers <= t.layerCount, "layers", "\(layers) outside 1...\(t.layerCount) (the teacher's layers)")
        try check(dim >= 1 && dim <= t.dim, "dim", "\(dim) outside 1...\(t.dim) (the teacher's width)")
        try check(heads >= 1 && heads <= t.headCount, "heads", "\(heads) outside 1...\(t.headCount) (the teacher's query heads)")
        try check(kvHeads >= 1 && kvHeads <= t.kvHeadCount, "kv-heads",
                  "\(kvHeads) outside 1...\(t.kvHeadCount) (the teacher's key/value heads)")
        try check(heads % kvHeads == 0, "kv-heads", "\(kvHeads) must divide heads \(heads)")
        let teacherGroup = t.headCount / t.kvHeadCount
        try check(heads / kvHeads <= teacherGroup, "heads",
                  "\(heads / kvHeads) query heads per kv head exceed the teacher's \(teacherGroup) (heads ≤ \(teacherGroup)·kv-heads)")
        try check(ffn >= 1 && ffn <= t.ffnDim, "ffn", "\(ffn) outside 1...\(t.ffnDim) (the teacher's MLP width)")
    }

    /// The student's `LlamaConfig`: this shape with everything else (E, V, RoPE, ε, context, tied
    /// output) the teacher's.
    public func config(teacher t: LlamaConfig) -> LlamaConfig {
        LlamaConfig(vocabSize: t.vocabSize, dim: dim, layerCount: layers, headCount: heads, kvHeadCount: kvHeads,
                    headDim: t.headDim, ffnDim: ffn, ropeBase: t.ropeBase, normEpsilon: t.normEpsilon,
                    contextLength: t.contextLength, tiedEmbeddings: t.tiedEmbeddings)
    }

    /// The shape of `config` (for a teacher: the plan that keeps everything).
    public init(_ config: LlamaConfig) {
        self.init(layers: config.layerCount, dim: config.dim, heads: config.headCount,
                  kvHeads: config.kvHeadCount, ffn: config.ffnDim)
    }

    /// Parameters of the student cut from `teacher` (embedding counted once when tied).
    public func parameterCount(teacher: LlamaConfig) -> Int { config(teacher: teacher).parameterCount }
}

extension String {
    fileprivate var trimmingWhitespace: String {
        var s = Substring(self)
        while let c = s.first, c.isWhitespace { s.removeFirst() }
        while let c = s.last, c.isWhitespace { s.removeLast() }
        return String(s)
    }
}
