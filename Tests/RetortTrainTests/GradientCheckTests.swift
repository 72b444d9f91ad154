import RetortTrain
import XCTest

/// The gradient checker must fail on broken gradients, or every passing check above means nothing.
final class GradientCheckTests: XCTestCase {
    func testCheckerRejectsWrongGradients() {
        var rng = SplitMix(seed: 31)
        let n = 3, k = 4, m = 5
        let x = Tensor(count: n * k, rng: &rng), w = Tensor(count: m * k, rng: &rng)
        let c = projection(count: n * m, rng: &rng)
        func objective() -> Double {
            var out = [Float](repeating: 0, count: n * m)
            matmulForward(&out, x.values, w.values, rows: n, inDim: k, outDim: m)
            return project(out, c)
        }
        let dx = Gradient(count: n * k), dW = Gradient(count: m * k)
        matmulBackward(&dx.values, &dW.values, c, x.values, w.values, rows: n, inDim: k, outDim: m)
        let good = dW.accumulated
        func check(_ analytic: [Float]) -> String {
            gradientCheck("dW", w, analytic: analytic, step: 1e-2, tolerance: GradientTolerance.smooth, objective: objective)
        }
        XCTAssertEqual(check(good), "")
        XCTAssertNotEqual(check(good.map { -$0 }), "", "sign flip")
        XCTAssertNotEqual(check(good.map { 1.05 * $0 }), "", "5% scale error")
        var oneWrong = good
        oneWrong[7] += 0.1
        XCTAssertNotEqual(check(oneWrong), "", "one wrong element")
        // A backward that overwrote instead of accumulating would leave out the sentinel.
        XCTAssertNotEqual(check(good.map { $0 - accumulationSentinel }), "", "overwrite instead of +=")
    }
}
