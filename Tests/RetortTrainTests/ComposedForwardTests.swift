import RetortModel
import RetortTestSupport
import RetortTrain
import XCTest

/// The training layers, composed into a Llama forward pass over B sequences of T tokens, give the
/// host model's logits. N = B·T rows, D width, V vocabulary, H/G heads, E head width, F MLP width.
final class ComposedForwardTests: XCTestCase {
    func testComposedForwardMatchesLlamaSession() throws {
        let model = TinyModels.random(seed: 7)
        let c = model.config
        let b = 2, t = 9
        var rng = SplitMix(seed: 41)
        let tokens: [Int32] = (0..<b * t).map { _ in Int32(rng.nextInt(c.vocabSize)) }
        let logits = composedLogits(model, tokens: tokens, batch: b, sequenceLength: t)
        for s in 0..<b {
            let sequence = Array(tokens[s * t ..< (s + 1) * t])
            let expected = try batchedLogits(model, sequence)
            let actual = Array(logits[s * t * c.vocabSize ..< (s + 1) * t * c.vocabSize])
            XCTAssertEqual(mismatches(actual, expected, tolerance: Tolerance.fp32Kernel), "", "sequence \(s) vs LlamaSession")
            let reference = referenceLlamaLogits(model, tokens: sequence).flatMap { $0 }
            XCTAssertEqual(mismatches(actual, reference, tolerance: Tolerance.fp32Kernel), "", "sequence \(s) vs reference")
        }
    }

    func testMatmulMatchesPlainLoop() {
        var rng = SplitMix(seed: 42)
        let n = 5, k = 7, m = 3
        let x = Tensor(count: n * k, rng: &rng).values, w = Tensor(count: m * k, rng: &rng).values
        var out = [Float](repeating: .nan, count: n * m)
        matmulForward(&out, x, w, rows: n, inDim: k, outDim: m)
        var expected = [Float](repeating: 0, count: n * m)
        for r in 0..<n {
            for o in 0..<m { for i in 0..<k { expected[r * m + o] += x[r * k + i] * w[o * k + i] } }
        }
        XCTAssertEqual(mismatches(out, expected, tolerance: Tolerance.fp32Kernel), "")
    }

    /// Logits (N, V) of `model` over B sequences of T tokens, from the training layers alone.
    private func composedLogits(_ model: LlamaModel, tokens: [Int32], batch b: Int, sequenceLength t: Int) -> [Float] {
        let c = model.config, w = model.weights
        let n = b * t, d = c.dim, e = c.headDim, f = c.ffnDim
        let x = FloatBuffer(count: n * d), xn = FloatBuffer(count: n * d)                 // (N, D)
        let rstd = FloatBuffer(count: n)                                                   // (N)
        let q = FloatBuffer(count: n * c.qDim), att = FloatBuffer(count: n * c.qDim)      // (N, H·E)
        let k = FloatBuffer(count: n * c.kvDim), v = FloatBuffer(count: n * c.kvDim)      // (N, G·E)
        let probs = FloatBuffer(count: c.headCount * t * t)                                // (H, T, T)
        let projected = FloatBuffer(count: n * d)                                          // (N, D)
        let gate = FloatBuffer(count: n * f), up = FloatBuffer(count: n * f)              // (N, F)
        let hidden = FloatBuffer(count: n * f)                                             // (N, F)
        let logits = FloatBuffer(count: n * c.vocabSize)                                   // (N, V)
        let cosSin = ropeTable(positions: t, headDim: e, base: c.ropeBase)                 // (T, E/2, 2)
        embeddingForward(x.pointer, tokens, w.tokenEmbedding.pointer, rows: n, dim: d)
        for lw in w.layers {
            rmsNormForward(xn.pointer, rstd.pointer, x.pointer, lw.attnNorm.pointer, rows: n, dim: d,
                           epsilon: c.normEpsilon)
            matmulForward(q.pointer, xn.pointer, lw.wq.pointer, rows: n, inDim: d, outDim: c.qDim)
            matmulForward(k.pointer, xn.pointer, lw.wk.pointer, rows: n, inDim: d, outDim: c.kvDim)
            matmulForward(v.pointer, xn.pointer, lw.wv.pointer, rows: n, inDim: d, outDim: c.kvDim)
            ropeForward(q.pointer, q.pointer, cosSin.pointer, rows: n, sequenceLength: t, heads: c.headCount, headDim: e)
            ropeForward(k.pointer, k.pointer, cosSin.pointer, rows: n, sequenceLength: t, heads: c.kvHeadCount, headDim: e)
            for s in 0..<b {
                causalAttentionForward(att.pointer + s * t * c.qDim, probs.pointer, q.pointer + s * t * c.qDim,
                                       k.pointer + s * t * c.kvDim, v.pointer + s * t * c.kvDim,
                                       rows: t, heads: c.headCount, kvHeads: c.kvHeadCount, headDim: e)
            }
            matmulForward(projected.pointer, att.pointer, lw.wo.pointer, rows: n, inDim: c.qDim, outDim: d)
            residualForward(x.pointer, x.pointer, projected.pointer, count: n * d)
            rmsNormForward(xn.pointer, rstd.pointer, x.pointer, lw.ffnNorm.pointer, rows: n, dim: d,
                           epsilon: c.normEpsilon)
            matmulForward(gate.pointer, xn.pointer, lw.wGate.pointer, rows: n, inDim: d, outDim: f)
            matmulForward(up.pointer, xn.pointer, lw.wUp.pointer, rows: n, inDim: d, outDim: f)
            swigluForward(hidden.pointer, gate.pointer, up.pointer, count: n * f)
            matmulForward(projected.pointer, hidden.pointer, lw.wDown.pointer, rows: n, inDim: f, outDim: d)
            residualForward(x.pointer, x.pointer, projected.pointer, count: n * d)
        }
        rmsNormForward(xn.pointer, rstd.pointer, x.pointer, w.finalNorm.pointer, rows: n, dim: d, epsilon: c.normEpsilon)
        matmulForward(logits.pointer, xn.pointer, w.output.pointer, rows: n, inDim: d, outDim: c.vocabSize)
        return logits.array
    }
}
