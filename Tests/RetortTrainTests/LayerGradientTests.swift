import RetortTestSupport
import RetortModel
import RetortTrain
import XCTest

/// Finite-difference checks of every layer's backward pass, on the objective L = Σ c ⊙ out with
/// random fixed c (so dOut = c). N rows, D width, V vocabulary, H/G heads, E head width, F MLP width.
final class LayerGradientTests: XCTestCase {
    func testEmbeddingGradientScatterAddsRepeatedTokens() {
        var rng = SplitMix(seed: 11)
        let v = 7, d = 5
        let tokens: [Int32] = [3, 1, 3, 0, 6, 3]   // token 3 three times, 2 4 5 never
        let n = tokens.count
        let table = Tensor(count: v * d, rng: &rng)
        let c = projection(count: n * d, rng: &rng)
        func objective() -> Double {
            var out = [Float](repeating: 0, count: n * d)
            embeddingForward(&out, tokens, table.values, rows: n, dim: d)
            return project(out, c)
        }
        let dTable = Gradient(count: v * d)
        embeddingBackward(&dTable.values, c, tokens, rows: n, dim: d)
        XCTAssertEqual(gradientCheck("dTable", table, analytic: dTable.accumulated, step: 1e-2,
                                     tolerance: GradientTolerance.linear, objective: objective), "")
        XCTAssertEqual(dTable.accumulated[2 * d ..< 3 * d].map { $0 }, [Float](repeating: 0, count: d),
                       "unused token rows get no gradient")
    }

    func testRMSNormGradients() {
        var rng = SplitMix(seed: 12)
        let n = 3, d = 8, eps: Float = 1e-5
        let x = Tensor(count: n * d, rng: &rng, scale: 1.5)
        let weight = Tensor(count: d, rng: &rng, scale: 0.3, center: 1)
        let c = projection(count: n * d, rng: &rng)
        func objective() -> Double {
            var out = [Float](repeating: 0, count: n * d), rstd = [Float](repeating: 0, count: n)
            rmsNormForward(&out, &rstd, x.values, weight.values, rows: n, dim: d, epsilon: eps)
            return project(out, c)
        }
        var out = [Float](repeating: 0, count: n * d), rstd = [Float](repeating: 0, count: n)
        rmsNormForward(&out, &rstd, x.values, weight.values, rows: n, dim: d, epsilon: eps)
        for r in 0..<n {
            let ms = (0..<d).map { x.values[r * d + $0] * x.values[r * d + $0] }.reduce(0, +) / Float(d)
            XCTAssertEqual(rstd[r], 1 / (ms + eps).squareRoot(), accuracy: 1e-5, "saved rstd of row \(r)")
        }
        let dx = Gradient(count: n * d), dWeight = Gradient(count: d)
        rmsNormBackward(&dx.values, &dWeight.values, c, x.values, weight.values, rstd, rows: n, dim: d)
        XCTAssertEqual(gradientCheck("dx", x, analytic: dx.accumulated, step: 1e-2,
                                     tolerance: GradientTolerance.smooth, objective: objective), "")
        XCTAssertEqual(gradientCheck("dWeight", weight, analytic: dWeight.accumulated, step: 1e-2,
                                     tolerance: GradientTolerance.linear, objective: objective), "")
    }

    func testRoPEGradientIsInverseRotation() {
        var rng = SplitMix(seed: 13)
        let b = 2, t = 3, n = b * t, heads = 2, e = 4
        let table = ropeTable(positions: t, headDim: e, base: 10)   // small base: every pair rotates visibly
        let x = Tensor(count: n * heads * e, rng: &rng)
        let c = projection(count: x.count, rng: &rng)
        func objective() -> Double {
            var out = [Float](repeating: 0, count: x.count)
            ropeForward(&out, x.values, table.pointer, rows: n, sequenceLength: t, heads: heads, headDim: e)
            return project(out, c)
        }
        let dx = Gradient(count: x.count)
        ropeBackward(&dx.values, c, table.pointer, rows: n, sequenceLength: t, heads: heads, headDim: e)
        XCTAssertEqual(gradientCheck("dx", x, analytic: dx.accumulated, step: 1e-2,
                                     tolerance: GradientTolerance.linear, objective: objective), "")
        // Backward of forward is the identity (rotations are orthogonal), row by row.
        var rotated = [Float](repeating: 0, count: x.count), back = [Float](repeating: 0, count: x.count)
        ropeForward(&rotated, x.values, table.pointer, rows: n, sequenceLength: t, heads: heads, headDim: e)
        ropeBackward(&back, rotated, table.pointer, rows: n, sequenceLength: t, heads: heads, headDim: e)
        XCTAssertEqual(mismatches(back, x.values, tolerance: 1e-6), "")
    }

    func testMatmulGradients() {
        var rng = SplitMix(seed: 14)
        let n = 3, k = 5, m = 4
        let x = Tensor(count: n * k, rng: &rng), w = Tensor(count: m * k, rng: &rng)
        let c = projection(count: n * m, rng: &rng)
        func objective() -> Double {
            var out = [Float](repeating: 0, count: n * m)
            matmulForward(&out, x.values, w.values, rows: n, inDim: k, outDim: m)
            return project(out, c)
        }
        let dx = Gradient(count: n * k), dW = Gradient(count: m * k)
        matmulBackward(&dx.values, &dW.values, c, x.values, w.values, rows: n, inDim: k, outDim: m)
        XCTAssertEqual(gradientCheck("dx", x, analytic: dx.accumulated, step: 1e-2,
                                     tolerance: GradientTolerance.linear, objective: objective), "")
        XCTAssertEqual(gradientCheck("dW", w, analytic: dW.accumulated, step: 1e-2,
                                     tolerance: GradientTolerance.linear, objective: objective), "")
    }

    /// Grouped (H=4, G=2), multi-head (G=H) and multi-query (G=1) attention.
    func testCausalAttentionGradients() {
        for (heads, kvHeads, b) in [(4, 2, 1), (2, 2, 2), (4, 1, 2)] {
            var rng = SplitMix(seed: 15 + UInt64(heads * 10 + kvHeads))
            let t = 5, e = 4
            let q = Tensor(count: b * t * heads * e, rng: &rng, scale: 1.5)
            let k = Tensor(count: b * t * kvHeads * e, rng: &rng, scale: 1.5)
            let v = Tensor(count: b * t * kvHeads * e, rng: &rng)
            let c = projection(count: q.count, rng: &rng)
            var probs = [Float](repeating: 0, count: b * heads * t * t)
            func objective() -> Double {
                var out = [Float](repeating: 0, count: q.count), p = [Float](repeating: 0, count: b * heads * t * t)
                causalAttentionForward(&out, &p, q.values, k.values, v.values, batch: b, rows: t, heads: heads,
                                       kvHeads: kvHeads, headDim: e)
                return project(out, c)
            }
            var out = [Float](repeating: 0, count: q.count)
            causalAttentionForward(&out, &probs, q.values, k.values, v.values, batch: b, rows: t, heads: heads,
                                   kvHeads: kvHeads, headDim: e)
            let dq = Gradient(count: q.count), dk = Gradient(count: k.count), dv = Gradient(count: v.count)
            var scratch = [Float](repeating: .nan, count: b * kvHeads * t * t)   // must be fully overwritten before use
            causalAttentionBackward(&dq.values, &dk.values, &dv.values, &scratch, c, q.values, k.values, v.values,
                                    probs, batch: b, rows: t, heads: heads, kvHeads: kvHeads, headDim: e)
            let label = "B=\(b) H=\(heads) G=\(kvHeads) "
            XCTAssertEqual(gradientCheck(label + "dq", q, analytic: dq.accumulated, step: 1e-2,
                                         tolerance: GradientTolerance.smooth, objective: objective), "")
            XCTAssertEqual(gradientCheck(label + "dk", k, analytic: dk.accumulated, step: 1e-2,
                                         tolerance: GradientTolerance.smooth, objective: objective), "")
            XCTAssertEqual(gradientCheck(label + "dv", v, analytic: dv.accumulated, step: 1e-2,
                                         tolerance: GradientTolerance.linear, objective: objective), "")
        }
    }

    func testCausalAttentionSavesCausalProbabilities() {
        var rng = SplitMix(seed: 16)
        let t = 6, heads = 4, kvHeads = 2, e = 4
        let q = Tensor(count: t * heads * e, rng: &rng), k = Tensor(count: t * kvHeads * e, rng: &rng)
        let v = Tensor(count: t * kvHeads * e, rng: &rng)
        var out = [Float](repeating: 0, count: q.count), probs = [Float](repeating: .nan, count: heads * t * t)
        causalAttentionForward(&out, &probs, q.values, k.values, v.values, rows: t, heads: heads, kvHeads: kvHeads,
                               headDim: e)
        for h in 0..<heads {
            for r in 0..<t {
                let row = probs[(h * t + r) * t ..< (h * t + r + 1) * t]
                XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-5, "head \(h) row \(r) sums to 1")
                XCTAssertEqual(row.dropFirst(r + 1).filter { $0 != 0 }.count, 0, "head \(h) row \(r) sees no future")
            }
        }
        // Row 0 attends only to itself: out_h[0] = v_g[0].
        for h in 0..<heads {
            let g = h / (heads / kvHeads)
            XCTAssertEqual(Array(out[h * e ..< (h + 1) * e]), Array(v.values[g * e ..< (g + 1) * e]))
        }
    }

    func testSwiGLUGradients() {
        var rng = SplitMix(seed: 17)
        let count = 24
        let gate = Tensor(count: count, rng: &rng, scale: 4), up = Tensor(count: count, rng: &rng, scale: 2)
        let c = projection(count: count, rng: &rng)
        func objective() -> Double {
            var out = [Float](repeating: 0, count: count)
            swigluForward(&out, gate.values, up.values, count: count)
            return project(out, c)
        }
        let dGate = Gradient(count: count), dUp = Gradient(count: count)
        swigluBackward(&dGate.values, &dUp.values, c, gate.values, up.values, count: count)
        XCTAssertEqual(gradientCheck("dGate", gate, analytic: dGate.accumulated, step: 1e-2,
                                     tolerance: GradientTolerance.smooth, objective: objective), "")
        XCTAssertEqual(gradientCheck("dUp", up, analytic: dUp.accumulated, step: 1e-2,
                                     tolerance: GradientTolerance.linear, objective: objective), "")
    }

    func testResidualGradients() {
        var rng = SplitMix(seed: 18)
        let count = 10
        let a = Tensor(count: count, rng: &rng), b = Tensor(count: count, rng: &rng)
        let c = projection(count: count, rng: &rng)
        func objective() -> Double {
            var out = [Float](repeating: 0, count: count)
            residualForward(&out, a.values, b.values, count: count)
            return project(out, c)
        }
        let da = Gradient(count: count), db = Gradient(count: count)
        residualBackward(&da.values, &db.values, c, count: count)
        XCTAssertEqual(gradientCheck("da", a, analytic: da.accumulated, step: 1e-2,
                                     tolerance: GradientTolerance.linear, objective: objective), "")
        XCTAssertEqual(gradientCheck("db", b, analytic: db.accumulated, step: 1e-2,
                                     tolerance: GradientTolerance.linear, objective: objective), "")
    }
}
