import Foundation
import RetortTrain
import XCTest

/// The combined objective α·τ²·D + (1 − α)·CE (+ β·hidden) with full and sparse teachers: its value is
/// the weighted sum of the separately computed terms, its gradient passes finite differences.
final class DistillationObjectiveTests: XCTestCase {
    let n = 3, v = 9, k = 3
    let lossStep: Float = 3e-2

    func testFullAndSparseTeachersForEveryDivergence() {
        for (index, divergence) in DivergenceTests.divergences.enumerated() {
            var rng = SplitMix(seed: 600 + UInt64(index))
            let student = Tensor(count: n * v, rng: &rng, scale: 3), teacher = Tensor(count: n * v, rng: &rng, scale: 3)
            let labels: [Int32] = (0..<n).map { _ in Int32(rng.nextInt(v)) }
            let objective = DistillationObjective(temperature: 2, alpha: 0.6, divergence: divergence)
            var ids = [Int32](repeating: 0, count: n * k), logProbs = [Float](repeating: 0, count: n * k)
            var rest = [Float](repeating: 0, count: n)
            sparseTeacherFromLogits(&ids, &logProbs, &rest, teacher.values, rows: n, vocab: v, topK: k, temperature: 2)

            for sparse in [false, true] {
                let label = "\(divergence) sparse=\(sparse)"
                func withTeacher<R>(_ body: (DistillationTeacher) -> R) -> R {
                    teacher.values.withUnsafeBufferPointer { t in
                        ids.withUnsafeBufferPointer { i in
                            logProbs.withUnsafeBufferPointer { l in
                                rest.withUnsafeBufferPointer { r in
                                    body(sparse ? .sparse(ids: i.baseAddress!, logProbs: l.baseAddress!,
                                                          rest: r.baseAddress!, topK: k)
                                                : .full(logits: t.baseAddress!))
                                }
                            }
                        }
                    }
                }
                var losses = [Float](repeating: 0, count: n)
                let value = withTeacher {
                    distillationObjectiveForward(&losses, student.values, teacher: $0, labels, rows: n, vocab: v,
                                                 objective: objective)
                }
                // Terms computed on their own.
                var scratch = [Float](repeating: 0, count: n)
                let ce = crossEntropyForward(&scratch, student.values, labels, rows: n, vocab: v)
                let kd = sparse
                    ? sparseDistillationForward(&scratch, student.values, ids, logProbs, rest, rows: n, vocab: v, topK: k,
                                                temperature: 2, divergence: divergence)
                    : distillationDivergenceForward(&scratch, student.values, teacher.values, rows: n, vocab: v,
                                                    temperature: 2, divergence: divergence)
                XCTAssertEqual(value.ce, ce, accuracy: 1e-6 * max(1, ce), label)
                XCTAssertEqual(value.kd, kd, accuracy: 1e-6 * max(1, kd), label)
                XCTAssertEqual(value.total, 0.6 * kd + 0.4 * ce, accuracy: 1e-5, label)
                XCTAssertEqual(value.hidden, 0)
                XCTAssertEqual(losses.reduce(0, +) / Float(n), value.total, accuracy: 1e-5, label)

                func objectiveValue() -> Double {
                    var losses = [Float](repeating: 0, count: n)
                    return Double(withTeacher {
                        distillationObjectiveForward(&losses, student.values, teacher: $0, labels, rows: n, vocab: v,
                                                     objective: objective)
                    }.total)
                }
                let dStudent = Gradient(count: n * v)
                withTeacher {
                    distillationObjectiveBackward(&dStudent.values, student.values, teacher: $0, labels, rows: n, vocab: v,
                                                  objective: objective, scale: 1 / Float(n))
                }
                XCTAssertEqual(gradientCheck("\(label) dStudent", student, analytic: dStudent.accumulated, step: lossStep,
                                             tolerance: GradientTolerance.smooth, objective: objectiveValue), "")
            }
        }
    }

    func testHiddenTermAddsWithItsWeight() {
        let objective = DistillationObjective(temperature: 1, alpha: 0.5, hiddenWeight: 0.25, hiddenKind: .cosine)
        let value = DistillationObjectiveValue(total: 2, kd: 3, ce: 1, hidden: 0)
        XCTAssertEqual(objective.adding(hidden: 0.8, to: value),
                       DistillationObjectiveValue(total: 2.2, kd: 3, ce: 1, hidden: 0.8))
    }

    func testMixIsTheForwardKLObjective() {
        let mix = DistillationMix(temperature: 3, alpha: 0.2)
        XCTAssertEqual(mix.objective, DistillationObjective(temperature: 3, alpha: 0.2, divergence: .forwardKL,
                                                            hiddenWeight: 0, hiddenKind: .mse))
    }
}
