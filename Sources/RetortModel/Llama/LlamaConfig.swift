import RetortImport

/// Shape of a Llama-family decoder. Dimension names used throughout RetortModel:
///   T = tokens in a batch, P = cached positions, D = model width (`dim`), V = vocabulary,
///   H = query heads, G = key/value heads, E = head width (`headDim`), F = MLP width (`ffnDim`).
public struct LlamaConfig: Sendable, Equatable, CustomStringConvertible {
    public var vocabSize: Int        // V
    public var dim: Int              // D
    public var layerCount: Int       // L
    public var headCount: Int        // H
    public var kvHeadCount: Int      // G (H % G == 0)
    public var headDim: Int          // E
    public var ffnDim: Int           // F
    public var ropeBase: Float
    public var normEpsilon: Float
    public var contextLength: Int
    public var tiedEmbeddings: Bool

    public init(vocabSize: Int, dim: Int, layerCount: Int, headCount: Int, kvHeadCount: Int,
                headDim: Int? = nil, ffnDim: Int, ropeBase: Float = 10_000, normEpsilon: Float = 1e-5,
                contextLength: Int = 2048, tiedEmbeddings: Bool = true) {
        self.vocabSize = vocabSize
        self.dim = dim
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim ?? (headCount > 0 ? dim / headCount : 0)
        self.ffnDim = ffnDim
        self.ropeBase = ropeBase
        self.normEpsilon = normEpsilon
        self.contextLength = contextLength
        self.tiedEmbeddings = tiedEmbeddings
    }

    public var qDim: Int { headCount * headDim }      // H·E
    public var kvDim: Int { kvHeadCount * headDim }   // G·E

    /// Checks the shape is internally consistent; `source` names the file in the error.
    public func validate(source: String) throws(ModelError) {
        func check(_ ok: Bool, _ field: String, _ message: String) throws(ModelError) {
            if !ok { throw ModelError(file: source, field: field, message: message) }
        }
        try check(vocabSize > 0 && vocabSize <= 1 << 24, "vocab_size", "\(vocabSize) out of range 1...\(1 << 24)")
        try check(dim > 0 && dim <= 1 << 16, "embedding_length", "\(dim) out of range")
        try check(layerCount > 0 && layerCount <= 1024, "block_count", "\(layerCount) out of range 1...1024")
        try check(headCount > 0 && headCount <= 1024, "attention.head_count", "\(headCount) out of range")
        try check(kvHeadCount > 0 && headCount % kvHeadCount == 0, "attention.head_count_kv",
                  "\(kvHeadCount) must divide head_count \(headCount)")
        try check(headDim > 0 && headDim % 2 == 0 && headDim <= 1024, "rope.dimension_count",
                  "head width \(headDim) must be even and ≤ 1024")
        try check(ffnDim > 0 && ffnDim <= 1 << 18, "feed_forward_length", "\(ffnDim) out of range")
        try check(ropeBase > 0 && ropeBase.isFinite, "rope.freq_base", "\(ropeBase) must be positive")
        try check(normEpsilon > 0 && normEpsilon < 1, "attention.layer_norm_rms_epsilon", "\(normEpsilon) out of range")
        try check(contextLength > 0, "context_length", "\(contextLength) must be positive")
    }

    /// Parameter count (the output head counted once when tied).
    public var parameterCount: Int {
        let perLayer = 2 * dim + dim * qDim + 2 * dim * kvDim + qDim * dim + 3 * dim * ffnDim
        return vocabSize * dim * (tiedEmbeddings ? 1 : 2) + layerCount * perLayer + dim
    }

    public var description: String {
        "layers \(layerCount), width \(dim), heads \(headCount)/\(kvHeadCount) (head width \(headDim)), "
            + "MLP \(ffnDim), vocabulary \(vocabSize), RoPE θ \(ropeBase), ε \(normEpsilon), "
            + "context \(contextLength), \(tiedEmbeddings ? "tied" : "untied") output"
    }
}

extension LlamaConfig {
    /// Reads `llama.*` keys (or `<general.architecture>.*`) from a GGUF file.
    public init(gguf file: GGUFFile) throws {
        let arch = try file.optionalString("general.architecture") ?? "llama"
        guard arch == "llama" else {
            throw ModelError(file: file.path, field: "general.architecture",
                             message: "unsupported architecture '\(arch)' (supported: llama)")
        }
        let p = arch + "."
        let dim = try file.int(p + "embedding_length")
        let heads = try file.int(p + "attention.head_count")
        let kvHeads = try file.optionalInt(p + "attention.head_count_kv") ?? heads
        let headDim = try file.optionalInt(p + "attention.key_length")
            ?? file.optionalInt(p + "rope.dimension_count") ?? (heads > 0 ? dim / heads : 0)
        var vocab = try file.optionalInt(p + "vocab_size")
        if vocab == nil, let tokens = file.value("tokenizer.ggml.tokens"), case .array(_, let values) = tokens {
            vocab = values.count
        }
        guard let vocabSize = vocab else {
            throw ModelError(file: file.path, field: p + "vocab_size", message: "missing (and no tokenizer.ggml.tokens)")
        }
        self.init(
            vocabSize: vocabSize, dim: dim, layerCount: try file.int(p + "block_count"),
            headCount: heads, kvHeadCount: kvHeads, headDim: headDim,
            ffnDim: try file.int(p + "feed_forward_length"),
            ropeBase: try file.optionalFloat(p + "rope.freq_base") ?? 10_000,
            normEpsilon: try file.optionalFloat(p + "attention.layer_norm_rms_epsilon") ?? 1e-5,
            contextLength: try file.optionalInt(p + "context_length") ?? 2048,
            tiedEmbeddings: file.tensor(named: "output.weight") == nil)
        try validate(source: file.path)
    }
}
