import COpenBLAS
import Foundation

/// Run state for one sequence: KV cache and scratch buffers, allocated once for a capacity of
/// `capacity` positions and batches of at most `maxBatch` tokens. Nothing allocates in `forward`.
///
/// `forward` appends a batch of tokens at the current position (prefill when T > 1, decode when
/// T = 1), so whole-sequence evaluation and incremental generation share one code path.
public final class LlamaSession {
    public enum Logits { case all, last, none }

    /// Which matrix input an observer sees. Several matrices share one input: q/k/v read
    /// `attentionInput`, gate/up read `mlpInput`.
    public enum MatmulInput: String, Sendable, CaseIterable {
        case attentionInput = "attn_in"     // (T, D) normed input of W_q, W_k, W_v
        case attentionOutput = "attn_out"   // (T, H·E) input of W_o
        case mlpInput = "ffn_in"            // (T, D) normed input of W_gate, W_up
        case mlpDown = "ffn_down"           // (T, F) input of W_down
        case head = "head"                  // (T, D) final normed rows, input of the output head
    }

    /// Called with every matrix input before its product: layer (the head's is `layerCount`),
    /// site, and the (rows, width) values, row-major. nil (the default) costs nothing.
    public typealias Observer = (_ layer: Int, _ input: MatmulInput, _ values: UnsafePointer<Float>,
                                 _ rows: Int, _ width: Int) -> Void
    public var observer: Observer?

    /// Called after every block with the residual stream leaving it: layer, (rows, D) values,
    /// row-major (what hidden-state distillation aligns). nil (the default) costs nothing.
    public var residualObserver: ((_ layer: Int, _ values: UnsafePointer<Float>, _ rows: Int, _ width: Int) -> Void)?

    public let model: LlamaModel
    public let capacity: Int            // C
    public let maxBatch: Int            // T_max
    public private(set) var position = 0

    let x: FloatBuffer          // (T, D) residual stream
    let xn: FloatBuffer         // (T, D) normed input of a sublayer
    let q: FloatBuffer          // (T, H·E)
    let att: FloatBuffer        // (T, H·E) attention output before W_o
    let scores: [FloatBuffer]   // per worker (attentionBlock, C)
    let gate: FloatBuffer       // (T, F)
    let up: FloatBuffer         // (T, F)
    public let logits: FloatBuffer   // (T, V)
    let keys: [FloatBuffer]     // per layer (C, G·E), RoPE applied
    let values: [FloatBuffer]   // per layer (C, G·E)
    let cosSin: FloatBuffer     // (C, E/2, 2)

    public init(model: LlamaModel, capacity: Int, maxBatch: Int? = nil) {
        let c = model.config
        precondition(capacity > 0, "session capacity must be positive")
        self.model = model
        self.capacity = capacity
        self.maxBatch = min(maxBatch ?? capacity, capacity)
        let t = self.maxBatch
        x = FloatBuffer(count: t * c.dim)
        xn = FloatBuffer(count: t * c.dim)
        q = FloatBuffer(count: t * c.qDim)
        att = FloatBuffer(count: t * c.qDim)
        scores = (0..<HostThreads.count).map { _ in FloatBuffer(count: min(t, LlamaSession.attentionBlock) * capacity) }
        gate = FloatBuffer(count: t * c.ffnDim)
        up = FloatBuffer(count: t * c.ffnDim)
        logits = FloatBuffer(count: t * c.vocabSize)
        keys = (0..<c.layerCount).map { _ in FloatBuffer(count: capacity * c.kvDim) }
        values = (0..<c.layerCount).map { _ in FloatBuffer(count: capacity * c.kvDim) }
        cosSin = ropeTable(positions: capacity, headDim: c.headDim, base: c.ropeBase)
    }

    /// Forgets the sequence (the cache is overwritten as new tokens arrive).
    public func reset() { position = 0 }

    /// Runs `tokens` at positions `position ..< position + T` and returns the requested logits:
    /// `.all` → (T, V), `.last` → (1, V) for the last token, `.none` → empty. The result is a view
    /// of the session's buffer: valid until the next `forward` and only while the session lives.
    @discardableResult
    public func forward(_ tokens: [Int32], logits want: Logits = .all) throws(ModelError) -> UnsafeBufferPointer<Float> {
        let c = model.config, w = model.weights
        let t = tokens.count
        guard t > 0 else { return UnsafeBufferPointer(start: logits.pointer, count: 0) }
        guard t <= maxBatch else {
            throw ModelError(file: "session", field: "tokens", message: "batch of \(t) exceeds maxBatch \(maxBatch)")
        }
        guard position + t <= capacity else {
            throw ModelError(file: "session", field: "position",
                             message: "positions \(position)..<\(position + t) exceed the cache capacity \(capacity)")
        }
        for (i, token) in tokens.enumerated() where token < 0 || Int(token) >= c.vocabSize {
            throw ModelError(file: "session", field: "tokens[\(i)]", message: "id \(token) outside vocabulary 0..<\(c.vocabSize)")
        }
        let d = c.dim
        // Token embedding: x[t, :] = E[token_t, :]
        for (i, token) in tokens.enumerated() {
            (x.pointer + i * d).update(from: w.tokenEmbedding.pointer + Int(token) * d, count: d)
        }
        return runBlocks(rows: t, from: 0, logits: want)
    }

    /// Runs blocks `start ..< L` (then the head) on `residual`, the (T, D) stream entering block
    /// `start`, at positions `position ..< position + T`; blocks before `start` are not run and
    /// their KV cache is not touched. With the stream `forward` had entering that block (see
    /// `residualObserver`), the result is bit for bit `forward`'s: this is how a pass that changes
    /// only later blocks reuses the earlier ones. `start` may be L (the head alone).
    @discardableResult
    public func forward(residual: UnsafePointer<Float>, rows t: Int, fromLayer start: Int,
                        logits want: Logits = .all) throws(ModelError) -> UnsafeBufferPointer<Float> {
        let c = model.config
        guard t > 0 else { return UnsafeBufferPointer(start: logits.pointer, count: 0) }
        guard t <= maxBatch, position + t <= capacity else {
            throw ModelError(file: "session", field: "rows", message: "\(t) rows at position \(position) exceed maxBatch \(maxBatch) or capacity \(capacity)")
        }
        guard (0...c.layerCount).contains(start) else {
            throw ModelError(file: "session", field: "fromLayer", message: "\(start) outside 0...\(c.layerCount)")
        }
        x.pointer.update(from: residual, count: t * c.dim)
        return runBlocks(rows: t, from: start, logits: want)
    }

    /// Blocks `start ..< L` and the head on the T rows in `x`.
    private func runBlocks(rows t: Int, from start: Int, logits want: Logits) -> UnsafeBufferPointer<Float> {
        let c = model.config, w = model.weights
        let d = c.dim, e = c.headDim, p0 = position
        for l in start..<c.layerCount {
            let lw = w.layers[l]
            // Attention block.
            rmsNormForward(xn.pointer, x.pointer, lw.attnNorm.pointer, rows: t, dim: d, epsilon: c.normEpsilon)
            if let observer { observer(l, .attentionInput, xn.pointer, t, d) }
            let kRows = keys[l].pointer + p0 * c.kvDim, vRows = values[l].pointer + p0 * c.kvDim
            matmulForward(q.pointer, xn.pointer, lw.wq.pointer, rows: t, inDim: d, outDim: c.qDim)
            matmulForward(kRows, xn.pointer, lw.wk.pointer, rows: t, inDim: d, outDim: c.kvDim)
            matmulForward(vRows, xn.pointer, lw.wv.pointer, rows: t, inDim: d, outDim: c.kvDim)
            ropeForward(q.pointer, rows: t, heads: c.headCount, headDim: e, startPosition: p0, cosSin: cosSin.pointer)
            ropeForward(kRows, rows: t, heads: c.kvHeadCount, headDim: e, startPosition: p0, cosSin: cosSin.pointer)
            attentionForward(layer: l, rows: t, startPosition: p0)
            if let observer { observer(l, .attentionOutput, att.pointer, t, c.qDim) }
            matmulForward(x.pointer, att.pointer, lw.wo.pointer, rows: t, inDim: c.qDim, outDim: d, accumulate: true)
            // MLP block.
            rmsNormForward(xn.pointer, x.pointer, lw.ffnNorm.pointer, rows: t, dim: d, epsilon: c.normEpsilon)
            if let observer { observer(l, .mlpInput, xn.pointer, t, d) }
            matmulForward(gate.pointer, xn.pointer, lw.wGate.pointer, rows: t, inDim: d, outDim: c.ffnDim)
            matmulForward(up.pointer, xn.pointer, lw.wUp.pointer, rows: t, inDim: d, outDim: c.ffnDim)
            let g = gate.pointer, u = up.pointer, f = c.ffnDim
            parallelChunks(t, minChunk: 8) { rows in
                swigluForward(g + rows.lowerBound * f, u + rows.lowerBound * f, count: rows.count * f)
            }
            if let observer { observer(l, .mlpDown, gate.pointer, t, f) }
            matmulForward(x.pointer, gate.pointer, lw.wDown.pointer, rows: t, inDim: f, outDim: d, accumulate: true)
            if let residualObserver { residualObserver(l, x.pointer, t, d) }
        }
        position += t
        switch want {
        case .none:
            return UnsafeBufferPointer(start: logits.pointer, count: 0)
        case .last:
            rmsNormForward(xn.pointer, x.pointer + (t - 1) * d, w.finalNorm.pointer, rows: 1, dim: d, epsilon: c.normEpsilon)
            if let observer { observer(c.layerCount, .head, xn.pointer, 1, d) }
            matmulForward(logits.pointer, xn.pointer, w.output.pointer, rows: 1, inDim: d, outDim: c.vocabSize)
            return UnsafeBufferPointer(start: logits.pointer, count: c.vocabSize)
        case .all:
            rmsNormForward(xn.pointer, x.pointer, w.finalNorm.pointer, rows: t, dim: d, epsilon: c.normEpsilon)
            if let observer { observer(c.layerCount, .head, xn.pointer, t, d) }
            matmulForward(logits.pointer, xn.pointer, w.output.pointer, rows: t, inDim: d, outDim: c.vocabSize)
            return UnsafeBufferPointer(start: logits.pointer, count: t * c.vocabSize)
        }
    }

    /// Query rows per attention task.
    static let attentionBlock = 64

    /// Causal grouped-query attention of T new query rows over cached positions 0 ..< p0 + T.
    /// att[t, h·E ..< (h+1)·E] = softmax(q_h[t] · K_gᵀ / √E) · V_g, with g = h / (H / G).
    /// Work is split into (head, block of query rows) tasks; a block only multiplies against the
    /// keys its last row can see, so the causal half of the score matrix is never computed.
    private func attentionForward(layer l: Int, rows t: Int, startPosition p0: Int) {
        let c = model.config, e = c.headDim
        let group = c.headCount / c.kvHeadCount
        let scale = 1 / Float(e).squareRoot()
        let kBase = keys[l].pointer, vBase = values[l].pointer, qBase = q.pointer, out = att.pointer
        let block = LlamaSession.attentionBlock
        let blocks = (t + block - 1) / block
        let tasks = c.headCount * blocks
        let workers = min(scores.count, tasks)
        let scratch = scores
        parallelWorkers(workers) { worker in
            let s = scratch[worker].pointer
            // Interleaved assignment balances the cheap early blocks against the costly late ones.
            var task = worker
            while task < tasks {
                let h = task % c.headCount, b = task / c.headCount
                let g = h / group
                let r0 = b * block, r1 = min(r0 + block, t)
                let rows = r1 - r0, span = p0 + r1          // keys visible to the block's last row
                // s = scale · q_h[r0..<r1] · K_g[0..<span]ᵀ
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(span), Int32(e),
                            scale, qBase + r0 * c.qDim + h * e, Int32(c.qDim), kBase + g * e, Int32(c.kvDim),
                            0, s, Int32(span))
                for r in 0..<rows { softmaxRowForward(s + r * span, valid: p0 + r0 + r + 1, width: span) }
                // att_h[r0..<r1] = s · V_g[0..<span]
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(e), Int32(span),
                            1, s, Int32(span), vBase + g * e, Int32(c.kvDim),
                            0, out + r0 * c.qDim + h * e, Int32(c.qDim))
                task += workers
            }
        }
    }
}
