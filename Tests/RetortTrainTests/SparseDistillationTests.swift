import Foundation
import RetortTrain
import XCTest

/// Sparse (top-K) distillation: values against the bucket reference and the full-vocabulary loss,
/// gradients against finite differences, edge cases of the rest mass, teacher conversions.
final class SparseDistillationTests: XCTestCase {
    let n = 3, v = 10, k = 4
    let lossStep: Float = 3e-2
    /// Per-row loss values against the Double reference.
    let valueTolerance = 2e-6
    /// Sparse against full-vocabulary values and gradients when they must agree (Float logits and
    /// log-probs round-trip through different Double sums).
    let agreementTolerance: Float = 2e-5

    /// A sparse teacher (ids, log-probs at τ, rest) from random logits.
    struct Sparse {
        var ids: [Int32], logProbs: [Float], rest: [Float]
    }

    func sparse(from logits: [Float], rows: Int, vocab: Int, topK: Int, temperature: Float) -> Sparse {
        var s = Sparse(ids: .init(repeating: 0, count: rows * topK), logProbs: .init(repeating: 0, count: rows * topK),
                       rest: .init(repeating: 0, count: rows))
        sparseTeacherFromLogits(&s.ids, &s.logProbs, &s.rest, logits, rows: rows, vocab: vocab, topK: topK,
                                temperature: temperature)
        return s
    }

    func testValuesAndGradients() {
        for (index, divergence) in DivergenceTests.divergences.enumerated() {
            for temperature: Float in [1, 2] {
                var rng = SplitMix(seed: 400 + UInt64(index) * 10 + UInt64(temperature))
                let student = Tensor(count: n * v, rng: &rng, scale: 3)
                let teacher = sparse(from: Tensor(count: n * v, rng: &rng, scale: 3).values, rows: n, vocab: v, topK: k,
                                     temperature: temperature)
                let label = "\(divergence) τ=\(temperature)"
                var losses = [Float](repeating: 0, count: n)
                let mean = sparseDistillationForward(&losses, student.values, teacher.ids, teacher.logProbs, teacher.rest,
                                                     rows: n, vocab: v, topK: k, temperature: temperature,
                                                     divergence: divergence)
                let expected = (0..<n).map { r in
                    Float(referenceSparseLoss(student: student.values[r * v ..< (r + 1) * v],
                                              ids: teacher.ids[r * k ..< (r + 1) * k],
                                              logProbs: teacher.logProbs[r * k ..< (r + 1) * k], rest: teacher.rest[r],
                                              temperature: temperature, divergence: divergence))
                }
                let worst = worstRelativeDifference(losses, expected)
                XCTAssertLessThanOrEqual(worst.error, valueTolerance,
                                         "\(label): row \(worst.index) \(losses[max(worst.index, 0)]) vs \(expected[max(worst.index, 0)])")
                XCTAssertEqual(mean, expected.reduce(0, +) / Float(n), accuracy: 1e-5, label)
                XCTAssertGreaterThan(mean, 0.01, label)
                XCTAssertGreaterThan(teacher.rest.min()!, 0.01, "\(label): the rest bucket must matter in this test")

                func objective() -> Double {
                    var losses = [Float](repeating: 0, count: n)
                    return Double(sparseDistillationForward(&losses, student.values, teacher.ids, teacher.logProbs,
                                                            teacher.rest, rows: n, vocab: v, topK: k,
                                                            temperature: temperature, divergence: divergence))
                }
                let dStudent = Gradient(count: n * v)
                sparseDistillationBackward(&dStudent.values, student.values, teacher.ids, teacher.logProbs, teacher.rest,
                                           rows: n, vocab: v, topK: k, temperature: temperature, divergence: divergence,
                                           scale: 1 / Float(n))
                XCTAssertEqual(gradientCheck("\(label) dStudent", student, analytic: dStudent.accumulated, step: lossStep,
                                             tolerance: GradientTolerance.smooth, objective: objective), "")
            }
        }
    }

    /// K = V: the buckets are the tokens, so sparse and full losses and gradients agree.
    func testEqualsFullLossWhenKIsV() {
        for divergence in DivergenceTests.divergences {
            var rng = SplitMix(seed: 410)
            let student = Tensor(count: n * v, rng: &rng, scale: 3), teacher = Tensor(count: n * v, rng: &rng, scale: 3)
            let s = sparse(from: teacher.values, rows: n, vocab: v, topK: v, temperature: 2)
            XCTAssertEqual(s.rest.max()!, 0, accuracy: 1e-6)
            assertSparseMatchesFull(student.values, teacher.values, s, topK: v, temperature: 2, divergence: divergence,
                                    "K=V \(divergence)")
        }
    }

    /// K < V with a teacher whose other tokens carry ~no mass (r ≈ 1e-12): forward KL and JSD agree
    /// with the full loss; the student may put any mass on the rest.
    func testEqualsFullLossWhenRestIsNegligible() {
        var rng = SplitMix(seed: 411)
        let student = Tensor(count: n * v, rng: &rng, scale: 3)
        var teacher = [Float](repeating: -40, count: n * v)
        for r in 0..<n { for i in 0..<k { teacher[r * v + (r + 3 * i) % v] = 2 * rng.nextUnit() } }
        let s = sparse(from: teacher, rows: n, vocab: v, topK: k, temperature: 1)
        XCTAssertLessThan(s.rest.max()!, 1e-12)
        for divergence: DistillationDivergence in [.forwardKL, .jsd(beta: 0.5)] {
            assertSparseMatchesFull(student.values, teacher, s, topK: k, temperature: 1, divergence: divergence,
                                    "r≈0 \(divergence)")
        }
    }

    private func assertSparseMatchesFull(_ student: [Float], _ teacher: [Float], _ s: Sparse, topK: Int, temperature: Float,
                                         divergence: DistillationDivergence, _ label: String,
                                         file: StaticString = #filePath, line: UInt = #line) {
        var sparseLosses = [Float](repeating: 0, count: n), fullLosses = sparseLosses
        sparseDistillationForward(&sparseLosses, student, s.ids, s.logProbs, s.rest, rows: n, vocab: v, topK: topK,
                                  temperature: temperature, divergence: divergence)
        distillationDivergenceForward(&fullLosses, student, teacher, rows: n, vocab: v, temperature: temperature,
                                      divergence: divergence)
        let worst = worstRelativeDifference(sparseLosses, fullLosses)
        XCTAssertLessThanOrEqual(worst.error, Double(agreementTolerance),
                                 "\(label) losses: row \(worst.index) sparse \(sparseLosses) full \(fullLosses)",
                                 file: file, line: line)
        var dSparse = [Float](repeating: 0, count: n * v), dFull = dSparse
        sparseDistillationBackward(&dSparse, student, s.ids, s.logProbs, s.rest, rows: n, vocab: v, topK: topK,
                                   temperature: temperature, divergence: divergence, scale: 1)
        distillationDivergenceBackward(&dFull, student, teacher, rows: n, vocab: v, temperature: temperature,
                                       divergence: divergence, scale: 1)
        let worstGradient = worstRelativeDifference(dSparse, dFull)
        XCTAssertLessThanOrEqual(worstGradient.error, Double(agreementTolerance),
                                 "\(label) gradient [\(worstGradient.index)]: sparse \(dSparse[max(worstGradient.index, 0)]) full \(dFull[max(worstGradient.index, 0)])",
                                 file: file, line: line)
    }

    /// The coarse (K + 1)-bucket divergence never exceeds the full one (data processing).
    func testSparseIsAtMostFull() {
        var rng = SplitMix(seed: 412)
        let student = Tensor(count: n * v, rng: &rng, scale: 3), teacher = Tensor(count: n * v, rng: &rng, scale: 3)
        let s = sparse(from: teacher.values, rows: n, vocab: v, topK: k, temperature: 1)
        for divergence in DivergenceTests.divergences {
            var a = [Float](repeating: 0, count: n), b = a
            sparseDistillationForward(&a, student.values, s.ids, s.logProbs, s.rest, rows: n, vocab: v, topK: k,
                                      temperature: 1, divergence: divergence)
            distillationDivergenceForward(&b, student.values, teacher.values, rows: n, vocab: v, temperature: 1,
                                          divergence: divergence)
            for r in 0..<n { XCTAssertLessThanOrEqual(a[r], b[r] * (1 + 1e-6), "\(divergence) row \(r)") }
        }
    }

    /// r = 0, r tiny, and a student whose rest mass underflows: finite losses and gradients, and the
    /// r = 0 forward KL equals the top-bucket sum alone.
    func testZeroAndTinyRestStayFinite() {
        var rng = SplitMix(seed: 413)
        var s = sparse(from: Tensor(count: n * v, rng: &rng, scale: 3).values, rows: n, vocab: v, topK: k, temperature: 1)
        // Students: random; and one that pushes the rest to exp(−1000) (underflows in Double).
        let random = Tensor(count: n * v, rng: &rng, scale: 3).values
        var peaked = [Float](repeating: -500, count: n * v)
        for r in 0..<n { for i in 0..<k { peaked[r * v + Int(s.ids[r * k + i])] = 500 } }
        for rest: Float in [0, 1e-30, 1e-8] {
            for r in 0..<n {   // the top K keep their shape and carry 1 − rest
                let top = (0..<k).map { exp(Double(s.logProbs[r * k + $0])) }.reduce(0, +)
                for i in 0..<k {
                    s.logProbs[r * k + i] = Float(Double(s.logProbs[r * k + i]) - log(top) + log1p(-Double(rest)))
                }
                s.rest[r] = rest
            }
            for (name, student) in [("random", random), ("peaked", peaked)] {
                for divergence in DivergenceTests.divergences {
                    let label = "r=\(rest) \(name) \(divergence)"
                    var losses = [Float](repeating: 0, count: n)
                    let mean = sparseDistillationForward(&losses, student, s.ids, s.logProbs, s.rest, rows: n, vocab: v,
                                                         topK: k, temperature: 1, divergence: divergence)
                    XCTAssertTrue(mean.isFinite && losses.allSatisfy(\.isFinite), "\(label): \(losses)")
                    var d = [Float](repeating: 0, count: n * v)
                    sparseDistillationBackward(&d, student, s.ids, s.logProbs, s.rest, rows: n, vocab: v, topK: k,
                                               temperature: 1, divergence: divergence, scale: 1)
                    XCTAssertTrue(d.allSatisfy(\.isFinite), "\(label): gradient \(d)")
                    if rest == 0 && divergence == .forwardKL && name == "random" {
                        let expected = (0..<n).map { r -> Float in
                            let ls = referenceLogSoftmax(student[r * v ..< (r + 1) * v], temperature: 1)
                            return Float((0..<k).map { i -> Double in
                                let lp = Double(s.logProbs[r * k + i])
                                return exp(lp) * (lp - ls[Int(s.ids[r * k + i])])
                            }.reduce(0, +))
                        }
                        let worst = worstRelativeDifference(losses, expected)
                        XCTAssertLessThanOrEqual(worst.error, valueTolerance, "\(label): \(losses) vs \(expected)")
                    }
                }
            }
        }
    }

    /// Tempering a τ = 1 teacher is exact when the rest is flat, an upper bound on the rest for τ > 1
    /// otherwise, and the identity at τ = 1.
    func testTemperSparseTeacher() {
        var rng = SplitMix(seed: 414)
        // Flat rest: every non-top logit is the same.
        var flat = [Float](repeating: -1.5, count: n * v)
        for r in 0..<n { for i in 0..<k { flat[r * v + (2 * r + i) % v] = 3 * rng.nextUnit() } }
        let curved = Tensor(count: n * v, rng: &rng, scale: 3).values
        for temperature: Float in [0.5, 1, 2, 4] {
            for (name, logits) in [("flat", flat), ("curved", curved)] {
                let label = "\(name) τ=\(temperature)"
                let atOne = sparse(from: logits, rows: n, vocab: v, topK: k, temperature: 1)
                let exact = sparse(from: logits, rows: n, vocab: v, topK: k, temperature: temperature)
                var logProbs = atOne.logProbs, rest = atOne.rest
                temperSparseTeacher(&logProbs, &rest, atOne.logProbs, atOne.rest, rows: n, vocab: v, topK: k,
                                    temperature: temperature)
                XCTAssertEqual(atOne.ids, exact.ids, label)
                for r in 0..<n {
                    let total = (0..<k).map { exp(Double(logProbs[r * k + $0])) }.reduce(0, +) + Double(rest[r])
                    XCTAssertEqual(total, 1, accuracy: 1e-6, "\(label) row \(r) mass")
                }
                if name == "flat" || temperature == 1 {
                    let worst = worstRelativeDifference(logProbs + rest, exact.logProbs + exact.rest)
                    XCTAssertLessThanOrEqual(worst.error, 1e-5, "\(label) [\(worst.index)]: \(logProbs + rest) vs \(exact.logProbs + exact.rest)")
                } else if temperature > 1 {
                    for r in 0..<n { XCTAssertGreaterThan(rest[r], exact.rest[r], "\(label) row \(r): upper bound") }
                } else {
                    for r in 0..<n { XCTAssertLessThan(rest[r], exact.rest[r], "\(label) row \(r): lower bound") }
                }
            }
        }
    }

    func testTopKFromLogits() {
        let logits: [Float] = [0.5, 3, -1, 3, 2, 0, 0, 0, 0, 0]
        var ids = [Int32](repeating: 0, count: 3), logProbs = [Float](repeating: 0, count: 3), rest: [Float] = [0]
        sparseTeacherFromLogits(&ids, &logProbs, &rest, logits, rows: 1, vocab: v, topK: 3, temperature: 1)
        XCTAssertEqual(ids, [1, 3, 4], "largest first, ties to the lower id")
        let ls = referenceLogSoftmax(logits[...], temperature: 1)
        for i in 0..<3 { XCTAssertEqual(Double(logProbs[i]), ls[Int(ids[i])], accuracy: 1e-6) }
        XCTAssertEqual(Double(rest[0]), 1 - [1, 3, 4].map { exp(ls[$0]) }.reduce(0, +), accuracy: 1e-6)
    }

    /// A Float log-prob against the Double log-softmax (SIMD `expApprox` normaliser).
    let fromLogitsLogProbTolerance = 2e-6
    /// Relative error of the rest mass, summed over the rest tokens (tiny rests included).
    let fromLogitsRestTolerance = 1e-5

    /// Against a Double reference on a realistic vocabulary size (not a multiple of 8): ids exactly
    /// (largest first, ties to the lower id, ties straddling the K-th place), log-probs, and the rest
    /// mass relative to itself, from O(1) down to ~1e-24, at τ = 1 and 2, K from 1 to V.
    func testFromLogitsMatchesDoubleReference() {
        let v = 1003
        var rng = SplitMix(seed: 412)
        for (case_, k) in [1, 7, 64, 64, v].enumerated() {
            for temperature: Float in [1, 2] {
                let rows = 5
                var logits = [Float](repeating: 0, count: rows * v)
                for r in 0..<rows {
                    for j in 0..<v { logits[r * v + j] = 4 * (rng.nextUnit() - 0.5) }
                    if r == 1 { for j in stride(from: 3, to: v, by: 97) { logits[r * v + j] = 1.75 } }  // ties
                    if r == 2 { for j in 0..<v { logits[r * v + j] = -.infinity }; logits[r * v + 500] = 0 }
                    if case_ == 3 && r >= 3 {  // the rest carries ~e^-55 of the mass at τ = 1, ~e^-27 at τ = 2
                        for j in 0..<v { logits[r * v + j] -= 60 }
                        for i in 0..<k { logits[r * v + (7 * i + r) % v] += 60 + rng.nextUnit() }
                    }
                }
                var ids = [Int32](repeating: -1, count: rows * k), logProbs = [Float](repeating: 0, count: rows * k)
                var rest = [Float](repeating: -1, count: rows)
                sparseTeacherFromLogits(&ids, &logProbs, &rest, logits, rows: rows, vocab: v, topK: k,
                                        temperature: temperature)
                for r in 0..<rows {
                    let label = "K=\(k) τ=\(temperature) row \(r)"
                    let z = logits[r * v ..< (r + 1) * v]
                    let order = (0..<v).sorted { z[r * v + $0] != z[r * v + $1] ? z[r * v + $0] > z[r * v + $1] : $0 < $1 }
                    let expected = order.prefix(k).map(Int32.init)
                    XCTAssertEqual(Array(ids[r * k ..< (r + 1) * k]), expected, label)
                    let ls = referenceLogSoftmax(z, temperature: temperature)
                    for i in 0..<k where ls[Int(expected[i])].isFinite {
                        XCTAssertEqual(Double(logProbs[r * k + i]), ls[Int(expected[i])],
                                       accuracy: fromLogitsLogProbTolerance, "\(label) slot \(i)")
                    }
                    let exactRest = order.dropFirst(k).map { exp(ls[$0]) }.reduce(0, +)
                    if exactRest == 0 {
                        XCTAssertEqual(rest[r], 0, label)
                    } else {
                        XCTAssertEqual(Double(rest[r]) / exactRest, 1, accuracy: fromLogitsRestTolerance,
                                       "\(label): rest \(rest[r]) vs \(exactRest)")
                    }
                }
                if case_ == 3 {
                    XCTAssertLessThan(rest[3], temperature == 1 ? 1e-20 : 1e-10, "the tiny-rest rows must be tiny")
                    XCTAssertGreaterThan(rest[3], 0, "and still positive")
                }
            }
        }
    }

    func testValidation() throws {
        let ids: [Int32] = [0, 5, 2], logProbs: [Float] = [log(0.5), log(0.25), log(0.125)], rest: [Float] = [0.125]
        XCTAssertNoThrow(try validateSparseTeacher(ids, logProbs, rest, rows: 1, vocab: v, topK: 3))
        func failure(_ ids: [Int32], _ logProbs: [Float], _ rest: [Float]) -> SparseTeacherError? {
            do {
                try validateSparseTeacher(ids, logProbs, rest, rows: 1, vocab: v, topK: 3)
                return nil
            } catch { return error }
        }
        XCTAssertEqual(failure([0, 10, 2], logProbs, rest), .idOutOfRange(row: 0, slot: 1, id: 10, vocab: v))
        XCTAssertEqual(failure([0, 5, 0], logProbs, rest), .duplicateId(row: 0, slot: 2, id: 0))
        XCTAssertEqual(failure(ids, [log(0.5), 0.25, log(0.125)], rest), .badLogProb(row: 0, slot: 1, value: 0.25))
        XCTAssertNotNil(failure(ids, [log(0.5), .nan, log(0.125)], rest), "NaN log-prob")
        XCTAssertEqual(failure(ids, logProbs, [-0.1]), .badRest(row: 0, value: -0.1))
        guard case .massMismatch(row: 0, let total)? = failure(ids, logProbs, [0.5]) else {
            return XCTFail("a total mass of 1.375 must be rejected")
        }
        XCTAssertEqual(total, 1.375, accuracy: 1e-6)
        XCTAssertEqual(SparseTeacherError.duplicateId(row: 0, slot: 2, id: 0).description, "row 0 ids[2] = 0 appears twice")
    }
}
