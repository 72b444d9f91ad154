import RetortModel

// A student cut out of a teacher: which blocks, residual channels, kv heads, query heads and MLP
// channels survive, and the copy of exactly those slices of the teacher's weights.
//
// Dimensions: teacher L, D, H, G, E, F; student L_s, D_s, H_s, G_s, F_s (E and V unchanged);
// s = H_s / G_s query heads per student kv head, g_t = H / G per teacher kv head (s ≤ g_t).
// Student query head j reads student kv head j / s, so `keptHeads[i][j·s ..< (j+1)·s]` must be
// query heads of teacher kv head `keptKVHeads[i][j]`. Every list is strictly ascending: the
// student keeps the teacher's order of blocks, channels and heads.

/// Which parts of the teacher a student keeps.
public struct PruningPlan: Codable, Equatable, Sendable {
    /// (L_s) teacher block indices, ascending.
    public var keptLayers: [Int]
    /// (D_s) residual-stream channels, ascending; the same in every block, norm and the embedding.
    public var keptChannels: [Int]
    /// (L_s, G_s) teacher kv heads per kept block, ascending.
    public var keptKVHeads: [[Int]]
    /// (L_s, H_s) teacher query heads per kept block, ascending, s per kept kv head in its order.
    public var keptHeads: [[Int]]
    /// (L_s, F_s) MLP channels per kept block, ascending.
    public var keptFFN: [[Int]]

    public init(keptLayers: [Int], keptChannels: [Int], keptKVHeads: [[Int]], keptHeads: [[Int]], keptFFN: [[Int]]) {
        self.keptLayers = keptLayers
        self.keptChannels = keptChannels
        self.keptKVHeads = keptKVHeads
        self.keptHeads = keptHeads
        self.keptFFN = keptFFN
    }

    /// The plan that keeps every part of `teacher` (its student is the teacher).
    public static func keepingEverything(_ teacher: LlamaConfig) -> PruningPlan {
        let l = teacher.layerCount
        return PruningPlan(keptLayers: Array(0..<l), keptChannels: Array(0..<teacher.dim),
                           keptKVHeads: Array(repeating: Array(0..<teacher.kvHeadCount), count: l),
                           keptHeads: Array(repeating: Array(0..<teacher.headCount), count: l),
                           keptFFN: Array(repeating: Array(0..<teacher.ffnDim), count: l))
    }

    /// The student's shape (counts of the first kept block; `validate` checks all blocks agree).
    public var shape: StudentShape {
        StudentShape(layers: keptLayers.count, dim: keptChannels.count, heads: keptHeads.first?.count ?? 0,
                     kvHeads: keptKVHeads.first?.count ?? 0, ffn: keptFFN.first?.count ?? 0)
    }

    /// Checks the plan against `teacher`: indices in range and strictly ascending, one entry per
    /// kept block with the same counts in every block, a valid student shape, and every query head
    /// in the kv group the student will pair it with. Errors name the field.
    public func validate(teacher t: LlamaConfig, source: String = "plan") throws(PruningError) {
        func fail(_ field: String, _ message: String) -> PruningError {
            PruningError(source: source, field: field, message: message)
        }
        func check(_ list: [Int], below bound: Int, count: Int, _ field: String) throws(PruningError) {
            guard list.count == count else { throw fail(field, "\(list.count) entries, expected \(count)") }
            for (i, x) in list.enumerated() {
                guard x >= 0 && x < bound else { throw fail("\(field)[\(i)]", "\(x) outside 0..<\(bound)") }
                guard i == 0 || list[i - 1] < x else { throw fail("\(field)[\(i)]", "\(x) not above \(list[i - 1]) (must be strictly ascending)") }
            }
        }
        let shape = self.shape
        try shape.validate(teacher: t, source: source)
        try check(keptLayers, below: t.layerCount, count: shape.layers, "keptLayers")
        try check(keptChannels, below: t.dim, count: shape.dim, "keptChannels")
        for (field, lists) in [("keptKVHeads", keptKVHeads), ("keptHeads", keptHeads), ("keptFFN", keptFFN)]
        where lists.count != shape.layers {
            throw fail(field, "\(lists.count) blocks, expected \(shape.layers) (one per kept layer)")
        }
        let s = shape.heads / shape.kvHeads, group = t.headCount / t.kvHeadCount
        for i in 0..<shape.layers {
            try check(keptKVHeads[i], below: t.kvHeadCount, count: shape.kvHeads, "keptKVHeads[\(i)]")
            try check(keptHeads[i], below: t.headCount, count: shape.heads, "keptHeads[\(i)]")
            try check(keptFFN[i], below: t.ffnDim, count: shape.ffn, "keptFFN[\(i)]")
            for (j, h) in keptHeads[i].enumerated() where h / group != keptKVHeads[i][j / s] {
                throw fail("keptHeads[\(i)][\(j)]", "query head \(h) belongs to kv head \(h / group), "
                               + "but student head \(j) reads kept kv head \(keptKVHeads[i][j / s])")
            }
        }
    }
}

/// Chooses the parts of the teacher to keep for `shape` from measured `importance`:
/// - depth: the `shape.layers` blocks with the largest `layerScores` (single-block-skip KL), in
///   the teacher's order — the blocks whose removal alone would change the output most;
/// - residual channels: the `shape.dim` largest `channelScores`;
/// - per kept block, kv heads: each teacher kv group scores the sum of its s = heads/kvHeads best
///   query heads' `headScores`; the `shape.kvHeads` best groups are kept, and in each its s best
///   query heads;
/// - per kept block, MLP channels: the `shape.ffn` largest `ffnScores`.
/// Ties go to the lower index; every list is returned ascending.
public func planPruning(_ importance: TeacherImportance, teacher: LlamaConfig,
                        shape: StudentShape) throws(PruningError) -> PruningPlan {
    try shape.validate(teacher: teacher)
    try importance.validate(teacher: teacher)
    let s = shape.heads / shape.kvHeads, group = teacher.headCount / teacher.kvHeadCount
    let layers = topIndices(importance.layerScores, shape.layers)
    var kvHeads: [[Int]] = [], heads: [[Int]] = [], ffn: [[Int]] = []
    for l in layers {
        let scores = importance.headScores[l]
        let best = (0..<teacher.kvHeadCount).map { g in
            topIndices(Array(scores[g * group ..< (g + 1) * group]), s).map { g * group + $0 }
        }
        let groupScores = best.map { $0.reduce(0) { $0 + scores[$1] } }
        let groups = topIndices(groupScores, shape.kvHeads)
        kvHeads.append(groups)
        heads.append(groups.flatMap { best[$0] })
        ffn.append(topIndices(importance.ffnScores[l], shape.ffn))
    }
    return PruningPlan(keptLayers: layers, keptChannels: topIndices(importance.channelScores, shape.dim),
                       keptKVHeads: kvHeads, keptHeads: heads, keptFFN: ffn)
}

/// The baseline plan that ignores importance: `shape.layers` blocks evenly spaced over the
/// teacher's depth (block round(i·(L−1)/(L_s−1)), so the first and last are kept; block 0 alone
/// when L_s = 1), the first `dim` channels, the first `kvHeads` kv heads with the first s query
/// heads of each, and the first `ffn` MLP channels.
public func everyKthPlan(teacher: LlamaConfig, shape: StudentShape) throws(PruningError) -> PruningPlan {
    try shape.validate(teacher: teacher)
    let n = shape.layers, last = teacher.layerCount - 1
    let layers = n == 1 ? [0] : (0..<n).map { i in (2 * i * last + (n - 1)) / (2 * (n - 1)) }
    let s = shape.heads / shape.kvHeads, group = teacher.headCount / teacher.kvHeadCount
    let kv = Array(0..<shape.kvHeads)
    let heads = kv.flatMap { g in (0..<s).map { g * group + $0 } }
    return PruningPlan(keptLayers: layers, keptChannels: Array(0..<shape.dim),
                       keptKVHeads: Array(repeating: kv, count: n), keptHeads: Array(repeating: heads, count: n),
                       keptFFN: Array(repeating: Array(0..<shape.ffn), count: n))
}

/// A new model with the student's config (`plan.shape` with the teacher's E, V, RoPE, ε, context
/// and tying) whose every weight is copied from the teacher at the kept indices:
///   embedding / untied output (V, D_s) = teacher[:, keptChannels];
///   norms (D_s) = teacher[keptChannels];
///   W_q (H_s·E, D_s) = rows of the kept query heads, columns keptChannels; W_k, W_v likewise with
///   the kept kv heads; W_o (D_s, H_s·E) = rows keptChannels, columns of the kept query heads;
///   W_gate, W_up (F_s, D_s) = rows keptFFN, columns keptChannels; W_down (D_s, F_s) the transpose
///   selection. Block i of the student is teacher block keptLayers[i].
public func pruneTeacher(_ teacher: LlamaModel, plan: PruningPlan) throws(PruningError) -> LlamaModel {
    let t = teacher.config
    try plan.validate(teacher: t)
    let c = plan.shape.config(teacher: t)
    let student = LlamaModel(config: c)
    let tw = teacher.weights, sw = student.weights, e = t.headDim
    let channels = plan.keptChannels
    let allTokens = Array(0..<t.vocabSize)
    func headRows(_ heads: [Int]) -> [Int] { heads.flatMap { h in (h * e) ..< (h * e + e) } }

    gather(sw.tokenEmbedding, tw.tokenEmbedding, sourceColumns: t.dim, rows: allTokens, columns: channels)
    if !t.tiedEmbeddings {
        gather(sw.output, tw.output, sourceColumns: t.dim, rows: allTokens, columns: channels)
    }
    gather(sw.finalNorm, tw.finalNorm, sourceColumns: t.dim, rows: [0], columns: channels)
    for (i, l) in plan.keptLayers.enumerated() {
        let from = tw.layers[l], to = sw.layers[i]
        let q = headRows(plan.keptHeads[i]), kv = headRows(plan.keptKVHeads[i]), ffn = plan.keptFFN[i]
        gather(to.attnNorm, from.attnNorm, sourceColumns: t.dim, rows: [0], columns: channels)
        gather(to.wq, from.wq, sourceColumns: t.dim, rows: q, columns: channels)
        gather(to.wk, from.wk, sourceColumns: t.dim, rows: kv, columns: channels)
        gather(to.wv, from.wv, sourceColumns: t.dim, rows: kv, columns: channels)
        gather(to.wo, from.wo, sourceColumns: t.qDim, rows: channels, columns: q)
        gather(to.ffnNorm, from.ffnNorm, sourceColumns: t.dim, rows: [0], columns: channels)
        gather(to.wGate, from.wGate, sourceColumns: t.dim, rows: ffn, columns: channels)
        gather(to.wUp, from.wUp, sourceColumns: t.dim, rows: ffn, columns: channels)
        gather(to.wDown, from.wDown, sourceColumns: t.ffnDim, rows: channels, columns: ffn)
    }
    return student
}

/// destination (rows.count, columns.count) = source[rows, columns], source row-major with
/// `sourceColumns` columns.
private func gather(_ destination: FloatBuffer, _ source: FloatBuffer, sourceColumns: Int, rows: [Int], columns: [Int]) {
    precondition(destination.count == rows.count * columns.count, "gather: destination size mismatch")
    let width = columns.count
    for (i, r) in rows.enumerated() {
        let from = source.pointer + r * sourceColumns, to = destination.pointer + i * width
        for (j, col) in columns.enumerated() { to[j] = from[col] }
    }
}

/// The indices of the `k` largest scores (ties to the lower index), ascending.
func topIndices(_ scores: [Double], _ k: Int) -> [Int] {
    Array(rankDescending(scores).prefix(k)).sorted()
}
