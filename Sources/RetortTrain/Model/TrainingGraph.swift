import RetortModel

/// The forward and backward pass of a whole Llama-family model for one (batch, sequence) shape,
/// with every activation the backward pass reads and every gradient buffer allocated up front:
/// `forward` and `backward` allocate nothing.
///
/// Dimensions (as in `LlamaConfig`): B sequences of T tokens, N = B·T rows, D width, V vocabulary,
/// H/G query/kv heads of width E, F MLP width, L layers. The residual stream entering layer l is
/// `residual[l]`; `residual[L]` is the last layer's output ("hidden state l" = `residual[l + 1]`).
///
/// Gradients go to `gradients`, shaped like the model's weights (tied like them: the output head's
/// gradient lands in the token embedding's). `backward` adds (`+=`), so micro-batches accumulate;
/// call `zeroGradients()` before the first.
public final class TrainingGraph: @unchecked Sendable {
    public let model: LlamaModel
    public let config: LlamaConfig
    public let batch: Int
    public let sequenceLength: Int
    public var rows: Int { batch * sequenceLength }
    public let gradients: LlamaWeights

    /// Saved activations of one transformer block.
    final class LayerActivations {
        let xn1, rstd1, q, k, v, probs, att, mid, xn2, rstd2, gate, up, hidden: FloatBuffer

        init(_ c: LlamaConfig, batch b: Int, rows n: Int, sequenceLength t: Int) {
            xn1 = FloatBuffer(count: n * c.dim)             // attention norm output (N, D)
            rstd1 = FloatBuffer(count: n)                   // (N)
            q = FloatBuffer(count: n * c.qDim)              // rotated queries (N, H·E)
            k = FloatBuffer(count: n * c.kvDim)             // rotated keys (N, G·E)
            v = FloatBuffer(count: n * c.kvDim)             // values (N, G·E)
            probs = FloatBuffer(count: b * c.headCount * t * t)   // (B, H, T, T)
            att = FloatBuffer(count: n * c.qDim)            // attention output (N, H·E)
            mid = FloatBuffer(count: n * c.dim)             // residual after attention (N, D)
            xn2 = FloatBuffer(count: n * c.dim)             // MLP norm output (N, D)
            rstd2 = FloatBuffer(count: n)                   // (N)
            gate = FloatBuffer(count: n * c.ffnDim)         // (N, F)
            up = FloatBuffer(count: n * c.ffnDim)           // (N, F)
            hidden = FloatBuffer(count: n * c.ffnDim)       // silu(gate) ⊙ up (N, F)
        }
    }

    let tokens: UnsafeMutablePointer<Int32>          // (N)
    let residual: [FloatBuffer]                      // L + 1 × (N, D)
    let layers: [LayerActivations]
    let xnFinal: FloatBuffer                         // (N, D)
    let rstdFinal: FloatBuffer                       // (N)
    /// Logits (N, V) of the last `forward`.
    public let logits: FloatBuffer
    /// ∂objective/∂logits (N, V): the loss adds into it; `backward` reads it. Zeroed by `forward`.
    public let dLogits: FloatBuffer
    let cosSin: FloatBuffer                          // (T, E/2, 2)

    // Backward work space, overwritten in every layer.
    let dx: FloatBuffer                              // running ∂/∂residual (N, D)
    let dxn: FloatBuffer                             // ∂/∂ norm output (N, D)
    let dq, dqRaw, dk, dkRaw, dv, datt: FloatBuffer
    let dGate, dUp, dHidden: FloatBuffer
    let attentionScratch: FloatBuffer                // (B, G, T, T)
    let projected: FloatBuffer                       // forward: output of wo / w_down (N, D)
    /// Work space of the fused logits objective (`fusedDistillationRows`).
    public let logitsScratch: LogitsScratch

    public init(model: LlamaModel, batch b: Int, sequenceLength t: Int) {
        precondition(b >= 1 && t >= 1, "batch and sequence length must be positive")
        let c = model.config
        self.model = model
        config = c
        batch = b
        sequenceLength = t
        let n = b * t
        gradients = LlamaWeights(config: c)
        tokens = .allocate(capacity: n)
        tokens.initialize(repeating: 0, count: n)
        residual = (0...c.layerCount).map { _ in FloatBuffer(count: n * c.dim) }
        layers = (0..<c.layerCount).map { _ in LayerActivations(c, batch: b, rows: n, sequenceLength: t) }
        xnFinal = FloatBuffer(count: n * c.dim)
        rstdFinal = FloatBuffer(count: n)
        logits = FloatBuffer(count: n * c.vocabSize)
        dLogits = FloatBuffer(count: n * c.vocabSize)
        cosSin = ropeTable(positions: t, headDim: c.headDim, base: c.ropeBase)
        dx = FloatBuffer(count: n * c.dim)
        dxn = FloatBuffer(count: n * c.dim)
        dq = FloatBuffer(count: n * c.qDim)
        dqRaw = FloatBuffer(count: n * c.qDim)
        dk = FloatBuffer(count: n * c.kvDim)
        dkRaw = FloatBuffer(count: n * c.kvDim)
        dv = FloatBuffer(count: n * c.kvDim)
        datt = FloatBuffer(count: n * c.qDim)
        dGate = FloatBuffer(count: n * c.ffnDim)
        dUp = FloatBuffer(count: n * c.ffnDim)
        dHidden = FloatBuffer(count: n * c.ffnDim)
        attentionScratch = FloatBuffer(count: b * c.kvHeadCount * t * t)
        projected = FloatBuffer(count: n * c.dim)
        logitsScratch = LogitsScratch(vocab: c.vocabSize)
    }

    deinit { tokens.deallocate() }

    /// Bytes of activations and work space (not weights or gradients) this graph holds.
    public var activationBytes: Int {
        var floats = residual.reduce(0) { $0 + $1.count }
        for a in layers {
            floats += [a.xn1, a.rstd1, a.q, a.k, a.v, a.probs, a.att, a.mid, a.xn2, a.rstd2, a.gate, a.up, a.hidden]
                .reduce(0) { $0 + $1.count }
        }
        floats += [xnFinal, rstdFinal, logits, dLogits, dx, dxn, dq, dqRaw, dk, dkRaw, dv, datt, dGate, dUp, dHidden,
                   attentionScratch, projected, logitsScratch.buffer].reduce(0) { $0 + $1.count }
        return floats * MemoryLayout<Float>.stride
    }

    /// The residual stream after layer `layer` (0-based), (N, D): what hidden-state losses align.
    public func hiddenState(after layer: Int) -> UnsafeMutablePointer<Float> {
        precondition(layer >= 0 && layer < config.layerCount, "layer \(layer) out of 0..<\(config.layerCount)")
        return residual[layer + 1].pointer
    }

    public func zeroGradients() {
        for entry in LlamaTensorName.table(config: config, weights: gradients) {
            entry.buffer.pointer.update(repeating: 0, count: entry.buffer.count)
        }
    }

    /// Runs the model over `tokens` (N = B·T ids in 0..<V, sequence s at rows s·T ..< (s+1)·T),
    /// saves what backward needs, fills `logits` and zeroes `dLogits`.
    @discardableResult
    public func forward(_ input: UnsafeBufferPointer<Int32>) -> UnsafeMutablePointer<Float> {
        let c = config, w = model.weights
        let n = rows, t = sequenceLength, d = c.dim, e = c.headDim, f = c.ffnDim
        precondition(input.count == n, "forward: \(input.count) tokens for a \(batch)×\(t) graph")
        for i in 0..<n {
            precondition(input[i] >= 0 && Int(input[i]) < c.vocabSize, "token \(input[i]) at \(i) outside the vocabulary")
            tokens[i] = input[i]
        }
        embeddingForward(residual[0].pointer, tokens, w.tokenEmbedding.pointer, rows: n, dim: d)
        for (l, lw) in w.layers.enumerated() {
            let a = layers[l], x = residual[l].pointer
            rmsNormForward(a.xn1.pointer, a.rstd1.pointer, x, lw.attnNorm.pointer, rows: n, dim: d, epsilon: c.normEpsilon)
            matmulForward(a.q.pointer, a.xn1.pointer, lw.wq.pointer, rows: n, inDim: d, outDim: c.qDim)
            matmulForward(a.k.pointer, a.xn1.pointer, lw.wk.pointer, rows: n, inDim: d, outDim: c.kvDim)
            matmulForward(a.v.pointer, a.xn1.pointer, lw.wv.pointer, rows: n, inDim: d, outDim: c.kvDim)
            ropeForward(a.q.pointer, a.q.pointer, cosSin.pointer, rows: n, sequenceLength: t, heads: c.headCount, headDim: e)
            ropeForward(a.k.pointer, a.k.pointer, cosSin.pointer, rows: n, sequenceLength: t, heads: c.kvHeadCount, headDim: e)
            causalAttentionForward(a.att.pointer, a.probs.pointer, a.q.pointer, a.k.pointer, a.v.pointer,
                                   batch: batch, rows: t, heads: c.headCount, kvHeads: c.kvHeadCount, headDim: e)
            matmulForward(projected.pointer, a.att.pointer, lw.wo.pointer, rows: n, inDim: c.qDim, outDim: d)
            residualForward(a.mid.pointer, x, projected.pointer, count: n * d)
            rmsNormForward(a.xn2.pointer, a.rstd2.pointer, a.mid.pointer, lw.ffnNorm.pointer, rows: n, dim: d,
                           epsilon: c.normEpsilon)
            matmulForward(a.gate.pointer, a.xn2.pointer, lw.wGate.pointer, rows: n, inDim: d, outDim: f)
            matmulForward(a.up.pointer, a.xn2.pointer, lw.wUp.pointer, rows: n, inDim: d, outDim: f)
            swigluForward(a.hidden.pointer, a.gate.pointer, a.up.pointer, count: n * f)
            matmulForward(projected.pointer, a.hidden.pointer, lw.wDown.pointer, rows: n, inDim: f, outDim: d)
            residualForward(residual[l + 1].pointer, a.mid.pointer, projected.pointer, count: n * d)
        }
        rmsNormForward(xnFinal.pointer, rstdFinal.pointer, residual[c.layerCount].pointer, w.finalNorm.pointer,
                       rows: n, dim: d, epsilon: c.normEpsilon)
        matmulForward(logits.pointer, xnFinal.pointer, w.output.pointer, rows: n, inDim: d, outDim: c.vocabSize)
        zero(dLogits)
        return logits.pointer
    }

    /// Adds ∂objective/∂weights to `gradients`, from `dLogits` and from optional gradients w.r.t.
    /// hidden states (`hidden[i].layer`'s output, (N, D) each). Must follow `forward`.
    public func backward(hidden: [(layer: Int, gradient: UnsafePointer<Float>)] = []) {
        let c = config, w = model.weights, g = gradients
        let n = rows, t = sequenceLength, d = c.dim, e = c.headDim, f = c.ffnDim
        // Head and final norm.
        zero(dxn)
        matmulBackward(dxn.pointer, g.output.pointer, dLogits.pointer, xnFinal.pointer, w.output.pointer,
                       rows: n, inDim: d, outDim: c.vocabSize)
        zero(dx)
        rmsNormBackward(dx.pointer, g.finalNorm.pointer, dxn.pointer, residual[c.layerCount].pointer,
                        w.finalNorm.pointer, rstdFinal.pointer, rows: n, dim: d)
        for l in stride(from: c.layerCount - 1, through: 0, by: -1) {
            let a = layers[l], lw = w.layers[l], lg = g.layers[l]
            for h in hidden where h.layer == l { accumulate(dx.pointer, h.gradient, count: n * d) }
            // MLP: residual[l+1] = mid + hidden · w_downᵀ. dx is ∂/∂residual[l+1], which is also
            // the identity path's ∂/∂mid; the branch's contributions are added to it.
            zero(dHidden)
            matmulBackward(dHidden.pointer, lg.wDown.pointer, dx.pointer, a.hidden.pointer, lw.wDown.pointer,
                           rows: n, inDim: f, outDim: d)
            zero(dGate)
            zero(dUp)
            swigluBackward(dGate.pointer, dUp.pointer, dHidden.pointer, a.gate.pointer, a.up.pointer, count: n * f)
            zero(dxn)
            matmulBackward(dxn.pointer, lg.wGate.pointer, dGate.pointer, a.xn2.pointer, lw.wGate.pointer,
                           rows: n, inDim: d, outDim: f)
            matmulBackward(dxn.pointer, lg.wUp.pointer, dUp.pointer, a.xn2.pointer, lw.wUp.pointer,
                           rows: n, inDim: d, outDim: f)
            rmsNormBackward(dx.pointer, lg.ffnNorm.pointer, dxn.pointer, a.mid.pointer, lw.ffnNorm.pointer,
                            a.rstd2.pointer, rows: n, dim: d)
            // Attention: mid = residual[l] + att · w_oᵀ; dx is now ∂/∂mid.
            zero(datt)
            matmulBackward(datt.pointer, lg.wo.pointer, dx.pointer, a.att.pointer, lw.wo.pointer,
                           rows: n, inDim: c.qDim, outDim: d)
            zero(dq)
            zero(dk)
            zero(dv)
            causalAttentionBackward(dq.pointer, dk.pointer, dv.pointer, attentionScratch.pointer, datt.pointer,
                                    a.q.pointer, a.k.pointer, a.v.pointer, a.probs.pointer,
                                    batch: batch, rows: t, heads: c.headCount, kvHeads: c.kvHeadCount, headDim: e)
            zero(dqRaw)
            zero(dkRaw)
            ropeBackward(dqRaw.pointer, dq.pointer, cosSin.pointer, rows: n, sequenceLength: t, heads: c.headCount, headDim: e)
            ropeBackward(dkRaw.pointer, dk.pointer, cosSin.pointer, rows: n, sequenceLength: t, heads: c.kvHeadCount, headDim: e)
            zero(dxn)
            matmulBackward(dxn.pointer, lg.wq.pointer, dqRaw.pointer, a.xn1.pointer, lw.wq.pointer,
                           rows: n, inDim: d, outDim: c.qDim)
            matmulBackward(dxn.pointer, lg.wk.pointer, dkRaw.pointer, a.xn1.pointer, lw.wk.pointer,
                           rows: n, inDim: d, outDim: c.kvDim)
            matmulBackward(dxn.pointer, lg.wv.pointer, dv.pointer, a.xn1.pointer, lw.wv.pointer,
                           rows: n, inDim: d, outDim: c.kvDim)
            rmsNormBackward(dx.pointer, lg.attnNorm.pointer, dxn.pointer, residual[l].pointer, lw.attnNorm.pointer,
                            a.rstd1.pointer, rows: n, dim: d)
        }
        embeddingBackward(g.tokenEmbedding.pointer, dx.pointer, tokens, rows: n, dim: d)
    }
}

/// Sets every element of `buffer` to 0.
@inline(__always)
func zero(_ buffer: FloatBuffer) {
    buffer.pointer.update(repeating: 0, count: buffer.count)
}
