import Foundation
import RetortTrain
import XCTest

/// Values and finite-difference gradient checks of the losses. N positions, V vocabulary.
final class LossGradientTests: XCTestCase {
    let n = 4, v = 9
    /// The losses return a Float mean, whose rounding (~1e-7 · loss) a larger step divides down;
    /// the O(h²) truncation of the smooth softmax stays well under the tolerance at this step.
    let lossStep: Float = 3e-2

    func testCrossEntropyValueAndGradient() {
        var rng = SplitMix(seed: 21)
        let logits = Tensor(count: n * v, rng: &rng, scale: 3)
        let labels: [Int32] = (0..<n).map { _ in Int32(rng.nextInt(v)) }
        func objective() -> Double {
            var losses = [Float](repeating: 0, count: n)
            return Double(crossEntropyForward(&losses, logits.values, labels, rows: n, vocab: v))
        }
        // Value against a direct Double computation.
        var losses = [Float](repeating: 0, count: n)
        let mean = crossEntropyForward(&losses, logits.values, labels, rows: n, vocab: v)
        for r in 0..<n {
            let row = logits.values[r * v ..< (r + 1) * v].map(Double.init)
            let expected = log(row.map(exp).reduce(0, +)) - row[Int(labels[r])]
            XCTAssertEqual(Double(losses[r]), expected, accuracy: 1e-5, "position \(r)")
        }
        XCTAssertEqual(mean, losses.reduce(0, +) / Float(n), accuracy: 1e-6)
        let dLogits = Gradient(count: n * v)
        crossEntropyBackward(&dLogits.values, logits.values, labels, rows: n, vocab: v, scale: 1 / Float(n))
        XCTAssertEqual(gradientCheck("dLogits", logits, analytic: dLogits.accumulated, step: lossStep,
                                     tolerance: GradientTolerance.smooth, objective: objective), "")
    }

    func testCrossEntropyOfUniformLogitsIsLogV() {
        let logits = [Float](repeating: 0.7, count: n * v), labels: [Int32] = [0, 3, 8, 3]
        var losses = [Float](repeating: 0, count: n)
        XCTAssertEqual(crossEntropyForward(&losses, logits, labels, rows: n, vocab: v), Float(log(Double(v))),
                       accuracy: 1e-6)
    }

    func testDistillationKLValueAndGradient() {
        for temperature: Float in [1, 2, 4] {
            var rng = SplitMix(seed: 22 + UInt64(temperature))
            let student = Tensor(count: n * v, rng: &rng, scale: 3), teacher = Tensor(count: n * v, rng: &rng, scale: 3)
            func objective() -> Double {
                var losses = [Float](repeating: 0, count: n)
                return Double(distillationKLForward(&losses, student.values, teacher.values, rows: n, vocab: v,
                                                    temperature: temperature))
            }
            // Value against a direct Double computation of τ² · Σ p_t (log p_t − log p_s).
            var losses = [Float](repeating: 0, count: n)
            distillationKLForward(&losses, student.values, teacher.values, rows: n, vocab: v, temperature: temperature)
            for r in 0..<n {
                let ps = softmax(student.values[r * v ..< (r + 1) * v], temperature)
                let pt = softmax(teacher.values[r * v ..< (r + 1) * v], temperature)
                let kl = zip(pt, ps).map { $0 * log($0 / $1) }.reduce(0, +)
                let tau = Double(temperature)
                XCTAssertEqual(Double(losses[r]), tau * tau * kl, accuracy: 1e-5 * max(1, tau * tau * kl),
                               "τ=\(temperature) position \(r)")
            }
            let dStudent = Gradient(count: n * v)
            distillationKLBackward(&dStudent.values, student.values, teacher.values, rows: n, vocab: v,
                                   temperature: temperature, scale: 1 / Float(n))
            XCTAssertEqual(gradientCheck("τ=\(temperature) dStudent", student, analytic: dStudent.accumulated,
                                         step: lossStep, tolerance: GradientTolerance.smooth, objective: objective), "")
        }
    }

    func testDistillationKLOfIdenticalLogitsIsZero() {
        var rng = SplitMix(seed: 23)
        let logits = Tensor(count: n * v, rng: &rng, scale: 5)
        var losses = [Float](repeating: 1, count: n)
        XCTAssertEqual(distillationKLForward(&losses, logits.values, logits.values, rows: n, vocab: v, temperature: 2), 0)
        var dStudent = [Float](repeating: 0, count: n * v)
        distillationKLBackward(&dStudent, logits.values, logits.values, rows: n, vocab: v, temperature: 2, scale: 1)
        XCTAssertEqual(dStudent.map(abs).max()!, 0, accuracy: 1e-7)
    }

    func testMixedLossMatchesItsTermsAndGradient() {
        var rng = SplitMix(seed: 24)
        let student = Tensor(count: n * v, rng: &rng, scale: 3), teacher = Tensor(count: n * v, rng: &rng, scale: 3)
        let labels: [Int32] = (0..<n).map { _ in Int32(rng.nextInt(v)) }
        let mix = DistillationMix(temperature: 2, alpha: 0.3)
        var losses = [Float](repeating: 0, count: n)
        let ce = crossEntropyForward(&losses, student.values, labels, rows: n, vocab: v)
        let kl = distillationKLForward(&losses, student.values, teacher.values, rows: n, vocab: v, temperature: 2)
        let value = distillationLossForward(&losses, student.values, teacher.values, labels, rows: n, vocab: v, mix: mix)
        XCTAssertEqual(value.ce, ce, accuracy: 1e-6)
        XCTAssertEqual(value.kl, kl, accuracy: 1e-6)
        XCTAssertEqual(value.total, 0.3 * kl + 0.7 * ce, accuracy: 1e-5)
        for (alpha, expected) in [(Float(1), kl), (Float(0), ce)] {
            let pure = distillationLossForward(&losses, student.values, teacher.values, labels, rows: n, vocab: v,
                                               mix: DistillationMix(temperature: 2, alpha: alpha))
            XCTAssertEqual(pure.total, expected, accuracy: 1e-6, "α=\(alpha)")
        }
        func objective() -> Double {
            var losses = [Float](repeating: 0, count: n)
            return Double(distillationLossForward(&losses, student.values, teacher.values, labels, rows: n, vocab: v,
                                                  mix: mix).total)
        }
        let dStudent = Gradient(count: n * v)
        distillationLossBackward(&dStudent.values, student.values, teacher.values, labels, rows: n, vocab: v, mix: mix,
                                 scale: 1 / Float(n))
        XCTAssertEqual(gradientCheck("dStudent", student, analytic: dStudent.accumulated, step: lossStep,
                                     tolerance: GradientTolerance.smooth, objective: objective), "")
    }

    private func softmax(_ z: ArraySlice<Float>, _ temperature: Float) -> [Double] {
        let s = z.map { Double($0) / Double(temperature) }
        let m = s.max()!
        let e = s.map { exp($0 - m) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }
}
