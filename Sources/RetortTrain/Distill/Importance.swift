import COpenBLAS
import RetortModel

// Importance of the teacher's parts, measured on calibration text: which blocks, attention heads,
// MLP channels and residual channels a pruned student should keep.
//
// Dimensions as in `LlamaConfig`: L layers, D width, H/G query/kv heads of width E, F MLP width,
// V vocabulary; N calibration tokens in all (the sum of the sequences' lengths).
//
// Depth (one number per block l), over the N_depth tokens of the depth sequences:
//   layerScores[l] = (1/N_depth) Σ_tokens KL(p_teacher ‖ p_teacher without block l)   (nats, τ = 1)
// where "without block l" feeds block l's input straight to block l+1 (the block becomes the
// identity). Every position of every sequence counts, each sequence evaluated from its start.
//
// Width (activation-based; each is the mean over the N calibration tokens of a magnitude, sums
// accumulated in Double across sequences and divided by N once):
//   headScores[l][h]    = mean_n ‖att_h[n] · W_o[:, hE ..< (h+1)E]ᵀ‖₂ — the L2 norm of what head h
//                         writes into the residual stream (its attention output through its slice
//                         of W_o), so a head whose output or W_o slice is zero scores 0;
//   kvGroupScores[l][g] = Σ headScores[l][h] over the query heads h of kv group g;
//   ffnScores[l][j]     = mean_n |silu(gate[n, j]) · up[n, j]| · ‖W_down[:, j]‖₂ — again the norm
//                         of channel j's write into the residual stream;
//   channelScores[c]    = mean over the N tokens and the 2L+1 RMSNorm outputs (each block's
//                         attention and MLP input, and the final norm) of |x̂[n, c]|: the residual
//                         channel's magnitude as the blocks and the head read it (norm weights
//                         included).

/// What `measureImportance` found, for one teacher shape. Scores are ≥ 0; larger is more important.
public struct TeacherImportance: Codable, Equatable, Sendable {
    /// The teacher shape these scores index (L, D, H, G, F).
    public var teacher: StudentShape
    /// Calibration sequences and tokens (N) the width scores average over.
    public var sequences: Int
    public var tokens: Int
    /// The leading sequences, and their tokens, the layer scores average over (0: not measured).
    public var depthSequences: Int
    public var depthTokens: Int
    /// (L) mean KL(teacher ‖ teacher without block l) per token, nats.
    public var layerScores: [Double]
    /// (L, H) mean L2 norm of each query head's contribution to the residual stream.
    public var headScores: [[Double]]
    /// (L, G) sum of the head scores of each kv group.
    public var kvGroupScores: [[Double]]
    /// (L, F) mean |silu(gate)·up| times the L2 norm of the matching W_down column.
    public var ffnScores: [[Double]]
    /// (D) mean |RMSNorm output| per residual channel over all 2L+1 norms.
    public var channelScores: [Double]

    public init(teacher: StudentShape, sequences: Int, tokens: Int, depthSequences: Int, depthTokens: Int,
                layerScores: [Double], headScores: [[Double]], kvGroupScores: [[Double]], ffnScores: [[Double]],
                channelScores: [Double]) {
        self.teacher = teacher
        self.sequences = sequences
        self.tokens = tokens
        self.depthSequences = depthSequences
        self.depthTokens = depthTokens
        self.layerScores = layerScores
        self.headScores = headScores
        self.kvGroupScores = kvGroupScores
        self.ffnScores = ffnScores
        self.channelScores = channelScores
    }

    /// Teacher blocks from most to least important (by `layerScores`; ties by index).
    public var depthRanking: [Int] { rankDescending(layerScores) }

    /// Checks the record matches `teacher` and every score is finite and ≥ 0 (a record read back
    /// from disk is input like any other). `source` names it in the error.
    public func validate(teacher c: LlamaConfig, source: String = "importance") throws(PruningError) {
        func fail(_ field: String, _ message: String) -> PruningError {
            PruningError(source: source, field: field, message: message)
        }
        guard teacher == StudentShape(c) else {
            throw fail("teacher", "measured on \(teacher), the teacher is \(StudentShape(c))")
        }
        func check(_ values: [Double], _ count: Int, _ field: String) throws(PruningError) {
            guard values.count == count else { throw fail(field, "\(values.count) scores, expected \(count)") }
            if let i = values.firstIndex(where: { !($0.isFinite && $0 >= 0) }) {
                throw fail("\(field)[\(i)]", "\(values[i]) is not a finite score ≥ 0")
            }
        }
        func check(_ rows: [[Double]], _ count: Int, _ field: String) throws(PruningError) {
            guard rows.count == c.layerCount else { throw fail(field, "\(rows.count) layers, expected \(c.layerCount)") }
            for (l, row) in rows.enumerated() { try check(row, count, "\(field)[\(l)]") }
        }
        try check(layerScores, c.layerCount, "layerScores")
        try check(headScores, c.headCount, "headScores")
        try check(kvGroupScores, c.kvHeadCount, "kvGroupScores")
        try check(ffnScores, c.ffnDim, "ffnScores")
        try check(channelScores, c.dim, "channelScores")
    }
}

/// Progress of `measureImportance`: the activation pass counts sequences, the depth pass blocks.
public struct ImportanceProgress: Sendable, Equatable {
    public enum Stage: String, Sendable { case activations, depth }
    public let stage: Stage
    public let completed: Int
    public let total: Int

    public init(stage: Stage, completed: Int, total: Int) {
        self.stage = stage
        self.completed = completed
        self.total = total
    }
}

/// Measures depth and width importance of `teacher` on calibration `sequences` (token ids,
/// each evaluated from position 0; lengths may differ). See the top of this file for the exact
/// scores. The width scores use every sequence; the depth scores the first `depthSequences`
/// (nil: all; 0: no depth pass, every layer score 0). Cost: one training-engine forward per
/// sequence, plus per depth sequence one teacher forward and, for each skipped block, the blocks
/// after it (about L/2 + 1 forwards). Memory: the teacher's logits and the residual streams entering
/// each block for the depth sequences, N_depth·(V + L·D) floats.
public func measureImportance(teacher: LlamaModel, sequences: [[Int32]], depthSequences: Int? = nil,
                              progress: ((ImportanceProgress) -> Void)? = nil) throws(PruningError) -> TeacherImportance {
    let c = teacher.config
    let source = "calibration"
    guard !sequences.isEmpty else { throw PruningError(source: source, field: "sequences", message: "no calibration sequences") }
    for (s, sequence) in sequences.enumerated() {
        guard !sequence.isEmpty else { throw PruningError(source: source, field: "sequences[\(s)]", message: "empty sequence") }
        guard sequence.count <= c.contextLength else {
            throw PruningError(source: source, field: "sequences[\(s)]",
                               message: "\(sequence.count) tokens exceed the teacher's context \(c.contextLength)")
        }
        if let i = sequence.firstIndex(where: { $0 < 0 || Int($0) >= c.vocabSize }) {
            throw PruningError(source: source, field: "sequences[\(s)][\(i)]",
                               message: "token \(sequence[i]) outside the vocabulary 0..<\(c.vocabSize)")
        }
    }
    let tokens = sequences.reduce(0) { $0 + $1.count }
    let depthCount = depthSequences ?? sequences.count
    guard (0...sequences.count).contains(depthCount) else {
        throw PruningError(source: source, field: "depthSequences", message: "\(depthCount) outside 0...\(sequences.count)")
    }
    var width = WidthStatistics(teacher: teacher)
    var graph: TrainingGraph?
    for (s, sequence) in sequences.enumerated() {
        if graph?.sequenceLength != sequence.count {
            graph = nil
            graph = TrainingGraph(model: teacher, batch: 1, sequenceLength: sequence.count)
        }
        sequence.withUnsafeBufferPointer { _ = graph!.forward($0) }
        width.accumulate(graph!)
        progress?(ImportanceProgress(stage: .activations, completed: s + 1, total: sequences.count))
    }
    graph = nil
    let depth = Array(sequences.prefix(depthCount))
    let layerScores = depth.isEmpty ? [Double](repeating: 0, count: c.layerCount)
        : try measureDepthImportance(teacher: teacher, sequences: depth, progress: progress)
    return width.importance(sequences: sequences.count, tokens: tokens, depthSequences: depth.count,
                            depthTokens: depth.reduce(0) { $0 + $1.count }, layerScores: layerScores)
}

/// The teacher with block `layer` left out, sharing every buffer with `teacher`.
func teacherSkipping(_ teacher: LlamaModel, layer: Int) -> LlamaModel {
    var config = teacher.config
    config.layerCount -= 1
    let w = teacher.weights
    var layers = w.layers
    layers.remove(at: layer)
    return LlamaModel(config: config, weights: LlamaWeights(tokenEmbedding: w.tokenEmbedding, layers: layers,
                                                            finalNorm: w.finalNorm, output: w.output))
}

/// layerScores[l] = mean over all tokens of KL(p_teacher ‖ p_without l), both through `LlamaSession`.
/// The teacher's pass keeps the residual stream entering every block; the pass without block l
/// starts from the stream entering block l (blocks before it are unchanged, so recomputing them
/// would give the same bits) and runs the rest: about half the work of rerunning whole models.
private func measureDepthImportance(teacher: LlamaModel, sequences: [[Int32]],
                                    progress: ((ImportanceProgress) -> Void)?) throws(PruningError) -> [Double] {
    let c = teacher.config, v = c.vocabSize, d = c.dim, tokens = sequences.reduce(0) { $0 + $1.count }
    let capacity = sequences.map(\.count).max()!
    func failure(_ s: Int, _ error: ModelError) -> PruningError {
        PruningError(source: "calibration", field: "sequences[\(s)]", message: error.description)
    }
    // The teacher's logits (N, V) and the stream entering each block (L, N, D), sequence after sequence.
    let reference = FloatBuffer(count: tokens * v)
    let streams = FloatBuffer(count: c.layerCount * tokens * d)
    var offsets: [Int] = []   // first token of each sequence
    var offset = 0
    let session = LlamaSession(model: teacher, capacity: capacity)
    for (s, sequence) in sequences.enumerated() {
        offsets.append(offset)
        let n = sequence.count, base = offset
        for (i, token) in sequence.enumerated() {
            (streams.pointer + (base + i) * d).update(from: teacher.weights.tokenEmbedding.pointer + Int(token) * d, count: d)
        }
        session.residualObserver = { layer, values, rows, width in
            guard layer + 1 < c.layerCount else { return }
            (streams.pointer + ((layer + 1) * tokens + base) * width).update(from: values, count: rows * width)
        }
        session.reset()
        do {
            let logits = try session.forward(sequence, logits: .all)
            (reference.pointer + base * v).update(from: logits.baseAddress!, count: logits.count)
        } catch {
            throw failure(s, error)
        }
        offset += n
    }
    session.residualObserver = nil

    // KL per sequence through the fused objective at α = 1, τ = 1 (SIMD, rows over the workers);
    // scale 0 leaves the gradient it writes at zero.
    let gradient = FloatBuffer(count: capacity * v)
    let labels = [Int32](repeating: 0, count: capacity)
    let scratch = LogitsScratch(vocab: v)
    var scores: [Double] = []
    for l in 0..<c.layerCount {
        let skipped = LlamaSession(model: teacherSkipping(teacher, layer: l), capacity: capacity)
        var total: Double = 0
        for (s, sequence) in sequences.enumerated() {
            let n = sequence.count
            skipped.reset()
            let logits: UnsafeBufferPointer<Float>
            do {
                logits = try skipped.forward(residual: streams.pointer + (l * tokens + offsets[s]) * d, rows: n, fromLayer: l)
            } catch {
                throw failure(s, error)
            }
            let loss = fusedDistillationRows(gradient.pointer, logits.baseAddress!, labels: labels,
                                             teacher: reference.pointer + offsets[s] * v,
                                             rows: n, vocab: v, alpha: 1, temperature: 1, scale: 0, scratch: scratch)
            total += loss.distillation * Double(n)
        }
        scores.append(max(0, total / Double(tokens)))
        progress?(ImportanceProgress(stage: .depth, completed: l + 1, total: c.layerCount))
    }
    return scores
}

/// Running sums of the width scores over calibration tokens (see the top of this file).
private struct WidthStatistics {
    let model: LlamaModel
    var heads: [[Double]]          // (L, H) Σ_n ‖head contribution‖₂
    var ffnAbs: [[Double]]         // (L, F) Σ_n |hidden[n, j]|
    var channels: [Double]         // (D) Σ over norms and n of |x̂[n, c]|
    let downColumnNorms: [[Double]]   // (L, F) ‖W_down[:, j]‖₂

    init(teacher: LlamaModel) {
        let c = teacher.config
        model = teacher
        heads = Array(repeating: Array(repeating: 0, count: c.headCount), count: c.layerCount)
        ffnAbs = Array(repeating: Array(repeating: 0, count: c.ffnDim), count: c.layerCount)
        channels = Array(repeating: 0, count: c.dim)
        downColumnNorms = teacher.weights.layers.map { lw in
            var norms = [Double](repeating: 0, count: c.ffnDim)
            for d in 0..<c.dim {
                let row = lw.wDown.pointer + d * c.ffnDim
                for j in 0..<c.ffnDim { norms[j] += Double(row[j]) * Double(row[j]) }
            }
            return norms.map { $0.squareRoot() }
        }
    }

    /// Adds one forward pass's activations (all N = B·T rows of `graph`).
    mutating func accumulate(_ graph: TrainingGraph) {
        let c = model.config, n = graph.rows, d = c.dim, e = c.headDim, f = c.ffnDim, qDim = c.qDim
        let workers = min(HostThreads.count, c.headCount)
        let contributions = (0..<workers).map { _ in FloatBuffer(count: n * d) }   // (N, D) per worker
        var headSums = [Double](repeating: 0, count: c.headCount)
        func addAbs(_ x: UnsafePointer<Float>) {
            for r in 0..<n {
                let row = x + r * d
                for j in 0..<d { channels[j] += Double(abs(row[j])) }
            }
        }
        for (l, lw) in model.weights.layers.enumerated() {
            let a = graph.layers[l]
            // Heads: contribution (N, D) = att[:, hE ..< (h+1)E] (N, E) · W_o[:, hE ..< (h+1)E]ᵀ (E, D).
            headSums.withUnsafeMutableBufferPointer { sums in
                parallelWorkers(workers) { worker in
                    let out = contributions[worker].pointer
                    for h in stride(from: worker, to: c.headCount, by: workers) {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(d), Int32(e),
                                    1, a.att.pointer + h * e, Int32(qDim), lw.wo.pointer + h * e, Int32(qDim),
                                    0, out, Int32(d))
                        var total: Double = 0
                        for r in 0..<n {
                            var squares: Float = 0
                            let row = out + r * d
                            for j in 0..<d { squares += row[j] * row[j] }
                            total += Double(squares.squareRoot())
                        }
                        sums[h] = total
                    }
                }
            }
            for h in 0..<c.headCount { heads[l][h] += headSums[h] }
            // MLP channels: Σ_n |silu(gate)·up|.
            for r in 0..<n {
                let row = a.hidden.pointer + r * f
                for j in 0..<f { ffnAbs[l][j] += Double(abs(row[j])) }
            }
            addAbs(a.xn1.pointer)
            addAbs(a.xn2.pointer)
        }
        addAbs(graph.xnFinal.pointer)
    }

    func importance(sequences: Int, tokens: Int, depthSequences: Int, depthTokens: Int,
                    layerScores: [Double]) -> TeacherImportance {
        let c = model.config, scale = 1 / Double(tokens), group = c.headCount / c.kvHeadCount
        let headScores = heads.map { $0.map { $0 * scale } }
        let kvGroupScores = headScores.map { row in
            (0..<c.kvHeadCount).map { g in row[g * group ..< (g + 1) * group].reduce(0, +) }
        }
        let ffnScores = (0..<c.layerCount).map { l in (0..<c.ffnDim).map { j in ffnAbs[l][j] * scale * downColumnNorms[l][j] } }
        let norms = Double(2 * c.layerCount + 1)
        return TeacherImportance(teacher: StudentShape(c), sequences: sequences, tokens: tokens,
                                 depthSequences: depthSequences, depthTokens: depthTokens, layerScores: layerScores,
                                 headScores: headScores, kvGroupScores: kvGroupScores, ffnScores: ffnScores,
                                 channelScores: channels.map { $0 * scale / norms })
    }
}

/// Indices of `scores` from largest to smallest (NaN last, ties by index).
func rankDescending(_ scores: [Double]) -> [Int] {
    scores.indices.sorted { i, j in
        let a = scores[i].isNaN ? -Double.infinity : scores[i], b = scores[j].isNaN ? -Double.infinity : scores[j]
        return a != b ? a > b : i < j
    }
}
