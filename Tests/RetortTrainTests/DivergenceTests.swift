import Foundation
import RetortTrain
import XCTest

/// Reverse KL and JSD_β over the full vocabulary: values against the Double reference, gradients
/// against finite differences. N positions, V vocabulary.
final class DivergenceTests: XCTestCase {
    let n = 3, v = 8
    /// As in LossGradientTests: the Float mean's rounding is divided by 2h, truncation is O(h²).
    let lossStep: Float = 3e-2
    /// Per-row loss values against the Double reference (Float storage of a Double sum).
    let valueTolerance = 2e-6

    static let divergences: [DistillationDivergence] = [.forwardKL, .reverseKL, .jsd(beta: 0.1), .jsd(beta: 0.5),
                                                        .jsd(beta: 0.9)]

    func testValuesAndGradients() {
        for (index, divergence) in Self.divergences.enumerated() {
            for temperature: Float in [1, 2] {
                var rng = SplitMix(seed: 300 + UInt64(index) * 10 + UInt64(temperature))
                let student = Tensor(count: n * v, rng: &rng, scale: 3)
                let teacher = Tensor(count: n * v, rng: &rng, scale: 3)
                let label = "\(divergence) τ=\(temperature)"
                var losses = [Float](repeating: 0, count: n)
                let mean = distillationDivergenceForward(&losses, student.values, teacher.values, rows: n, vocab: v,
                                                         temperature: temperature, divergence: divergence)
                let expected = (0..<n).map { r in
                    Float(referenceFullLoss(student: student.values[r * v ..< (r + 1) * v],
                                            teacher: teacher.values[r * v ..< (r + 1) * v],
                                            temperature: temperature, divergence: divergence))
                }
                let worst = worstRelativeDifference(losses, expected)
                XCTAssertLessThanOrEqual(worst.error, valueTolerance,
                                         "\(label): row \(worst.index) \(losses[max(worst.index, 0)]) vs \(expected[max(worst.index, 0)])")
                XCTAssertEqual(mean, expected.reduce(0, +) / Float(n), accuracy: 1e-5, label)
                XCTAssertGreaterThan(mean, 0.01, "\(label): random distributions differ")

                func objective() -> Double {
                    var losses = [Float](repeating: 0, count: n)
                    return Double(distillationDivergenceForward(&losses, student.values, teacher.values, rows: n, vocab: v,
                                                                temperature: temperature, divergence: divergence))
                }
                let dStudent = Gradient(count: n * v)
                distillationDivergenceBackward(&dStudent.values, student.values, teacher.values, rows: n, vocab: v,
                                               temperature: temperature, divergence: divergence, scale: 1 / Float(n))
                XCTAssertEqual(gradientCheck("\(label) dStudent", student, analytic: dStudent.accumulated, step: lossStep,
                                             tolerance: GradientTolerance.smooth, objective: objective), "")
            }
        }
    }

    /// Rows wider than one SIMD block with a tail (V = 37), wide logits, both sides of τ = 1: the SIMD
    /// reverse-KL row against the Double reference and finite differences.
    func testReverseKLOnWideRows() {
        let n = 2, v = 37
        for temperature: Float in [0.5, 2] {
            var rng = SplitMix(seed: 320 + UInt64(temperature * 2))
            let student = Tensor(count: n * v, rng: &rng, scale: 5), teacher = Tensor(count: n * v, rng: &rng, scale: 5)
            var losses = [Float](repeating: 0, count: n)
            distillationDivergenceForward(&losses, student.values, teacher.values, rows: n, vocab: v,
                                          temperature: temperature, divergence: .reverseKL)
            let expected = (0..<n).map { r in
                Float(referenceFullLoss(student: student.values[r * v ..< (r + 1) * v],
                                        teacher: teacher.values[r * v ..< (r + 1) * v],
                                        temperature: temperature, divergence: .reverseKL))
            }
            let worst = worstRelativeDifference(losses, expected)
            XCTAssertLessThanOrEqual(worst.error, valueTolerance, "τ=\(temperature): \(losses) vs \(expected)")
            func objective() -> Double {
                var losses = [Float](repeating: 0, count: n)
                return Double(distillationDivergenceForward(&losses, student.values, teacher.values, rows: n, vocab: v,
                                                            temperature: temperature, divergence: .reverseKL))
            }
            let dStudent = Gradient(count: n * v)
            distillationDivergenceBackward(&dStudent.values, student.values, teacher.values, rows: n, vocab: v,
                                           temperature: temperature, divergence: .reverseKL, scale: 1 / Float(n))
            XCTAssertEqual(gradientCheck("τ=\(temperature) dStudent", student, analytic: dStudent.accumulated,
                                         step: lossStep, tolerance: GradientTolerance.smooth, objective: objective), "")
        }
    }

    func testForwardKLIsDistillationKL() {
        var rng = SplitMix(seed: 310)
        let student = Tensor(count: n * v, rng: &rng, scale: 3), teacher = Tensor(count: n * v, rng: &rng, scale: 3)
        var a = [Float](repeating: 0, count: n), b = a
        distillationDivergenceForward(&a, student.values, teacher.values, rows: n, vocab: v, temperature: 2,
                                      divergence: .forwardKL)
        distillationKLForward(&b, student.values, teacher.values, rows: n, vocab: v, temperature: 2)
        XCTAssertEqual(a, b)
    }

    func testIdenticalDistributionsGiveZeroLossAndGradient() {
        var rng = SplitMix(seed: 311)
        let logits = Tensor(count: n * v, rng: &rng, scale: 4)
        for divergence in Self.divergences {
            var losses = [Float](repeating: 1, count: n)
            XCTAssertEqual(distillationDivergenceForward(&losses, logits.values, logits.values, rows: n, vocab: v,
                                                         temperature: 2, divergence: divergence), 0, accuracy: 1e-7,
                           "\(divergence)")
            var d = [Float](repeating: 0, count: n * v)
            distillationDivergenceBackward(&d, logits.values, logits.values, rows: n, vocab: v, temperature: 2,
                                           divergence: divergence, scale: 1)
            XCTAssertEqual(d.map(abs).max()!, 0, accuracy: 1e-7, "\(divergence)")
        }
    }

    /// The JSD_β convention: D/β → KL(p_t ‖ p_s) as β → 0 and D/(1 − β) → KL(p_s ‖ p_t) as β → 1.
    func testJSDLimitsAreTheTwoKLs() {
        var rng = SplitMix(seed: 312)
        let student = Tensor(count: n * v, rng: &rng, scale: 2), teacher = Tensor(count: n * v, rng: &rng, scale: 2)
        func mean(_ divergence: DistillationDivergence) -> Double {
            var losses = [Float](repeating: 0, count: n)
            return Double(distillationDivergenceForward(&losses, student.values, teacher.values, rows: n, vocab: v,
                                                        temperature: 1, divergence: divergence))
        }
        let beta = 1e-3
        let forward = mean(.forwardKL), reverse = mean(.reverseKL)
        XCTAssertEqual(mean(.jsd(beta: Float(beta))) / beta, forward, accuracy: 0.01 * forward)
        XCTAssertEqual(mean(.jsd(beta: Float(1 - beta))) / beta, reverse, accuracy: 0.01 * reverse)
        XCTAssertNotEqual(forward, reverse, accuracy: 1e-3, "the test needs asymmetric pairs")
    }
}
