import Foundation
import RetortTrain
import XCTest

/// Hidden-state alignment (MSE, cosine), through a learned projection and without one: values
/// against a direct Double computation, gradients w.r.t. the student rows, the projection weight and
/// bias against finite differences. N rows, Ds student width, Dt teacher width.
final class HiddenAlignmentTests: XCTestCase {
    let n = 4, ds = 5, dt = 3
    /// The losses are quadratic (MSE) or smooth (cosine) in every input; the Float mean's rounding over
    /// 2h stays ~1e-5 at this step.
    let hiddenStep: Float = 1e-2
    let valueTolerance = 2e-6

    /// Direct Double value of one row's loss: y = x·Wᵀ + b (or x), against t.
    func referenceRow(_ kind: HiddenAlignmentKind, x: ArraySlice<Float>, t: ArraySlice<Float>, weight: [Float]?,
                      bias: [Float]?) -> Double {
        let xs = x.map(Double.init), ts = t.map(Double.init)
        let y: [Double] = weight.map { w in
            (0..<ts.count).map { o in
                (0..<xs.count).map { i in Double(w[o * xs.count + i]) * xs[i] }.reduce(0, +) + Double(bias?[o] ?? 0)
            }
        } ?? xs
        switch kind {
        case .mse:
            return zip(y, ts).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Double(ts.count)
        case .cosine:
            let eps2 = HiddenAlignmentKind.cosineEpsilon * HiddenAlignmentKind.cosineEpsilon
            let dot = zip(y, ts).map(*).reduce(0, +)
            let ny = (y.map { $0 * $0 }.reduce(0, +) + eps2).squareRoot()
            let nt = (ts.map { $0 * $0 }.reduce(0, +) + eps2).squareRoot()
            return 1 - dot / (ny * nt)
        }
    }

    func testProjectedValuesAndGradients() {
        for kind: HiddenAlignmentKind in [.mse, .cosine] {
            for withBias in [true, false] {
                var rng = SplitMix(seed: 500 + (kind == .mse ? 0 : 10) + (withBias ? 1 : 0))
                let student = Tensor(count: n * ds, rng: &rng), teacher = Tensor(count: n * dt, rng: &rng)
                let weight = Tensor(count: dt * ds, rng: &rng, scale: 0.7), bias = Tensor(count: dt, rng: &rng, scale: 0.3)
                let label = "\(kind) bias=\(withBias)"
                func forward(_ losses: inout [Float], _ projected: inout [Float]) -> Float {
                    bias.values.withUnsafeBufferPointer { b in
                        hiddenAlignmentForward(&losses, &projected, student.values, teacher.values, weight: weight.values,
                                               bias: withBias ? b.baseAddress : nil, rows: n, studentDim: ds,
                                               teacherDim: dt, kind: kind)
                    }
                }
                var losses = [Float](repeating: 0, count: n), projected = [Float](repeating: 0, count: n * dt)
                let mean = forward(&losses, &projected)
                let expected = (0..<n).map { r in
                    Float(referenceRow(kind, x: student.values[r * ds ..< (r + 1) * ds],
                                       t: teacher.values[r * dt ..< (r + 1) * dt], weight: weight.values,
                                       bias: withBias ? bias.values : nil))
                }
                let worst = worstRelativeDifference(losses, expected)
                XCTAssertLessThanOrEqual(worst.error, valueTolerance, "\(label): \(losses) vs \(expected)")
                XCTAssertEqual(mean, expected.reduce(0, +) / Float(n), accuracy: 1e-6, label)

                func objective() -> Double {
                    var losses = [Float](repeating: 0, count: n), projected = [Float](repeating: 0, count: n * dt)
                    return Double(forward(&losses, &projected))
                }
                let dStudent = Gradient(count: n * ds), dWeight = Gradient(count: dt * ds), dBias = Gradient(count: dt)
                var dProjected = [Float](repeating: .nan, count: n * dt)   // scratch: must be overwritten
                dBias.values.withUnsafeMutableBufferPointer { db in
                    hiddenAlignmentBackward(&dStudent.values, &dWeight.values, withBias ? db.baseAddress : nil, &dProjected,
                                            projected, student.values, teacher.values, weight: weight.values, rows: n,
                                            studentDim: ds, teacherDim: dt, kind: kind, scale: 1 / Float(n))
                }
                let tolerance = kind == .mse ? GradientTolerance.linear : GradientTolerance.smooth
                XCTAssertEqual(gradientCheck("\(label) dStudent", student, analytic: dStudent.accumulated, step: hiddenStep,
                                             tolerance: tolerance, objective: objective), "")
                XCTAssertEqual(gradientCheck("\(label) dWeight", weight, analytic: dWeight.accumulated, step: hiddenStep,
                                             tolerance: tolerance, objective: objective), "")
                if withBias {
                    XCTAssertEqual(gradientCheck("\(label) dBias", bias, analytic: dBias.accumulated, step: hiddenStep,
                                                 tolerance: tolerance, objective: objective), "")
                } else {
                    XCTAssertEqual(dBias.accumulated, [Float](repeating: 0, count: dt), "\(label): no bias, no bias gradient")
                }
            }
        }
    }

    /// Ds == Dt and no projection: the rows are compared as they are.
    func testIdentityValuesAndGradients() {
        let d = 4
        for kind: HiddenAlignmentKind in [.mse, .cosine] {
            var rng = SplitMix(seed: 520 + (kind == .mse ? 0 : 1))
            let student = Tensor(count: n * d, rng: &rng), teacher = Tensor(count: n * d, rng: &rng)
            func forward(_ losses: inout [Float], _ projected: inout [Float]) -> Float {
                hiddenAlignmentForward(&losses, &projected, student.values, teacher.values, weight: nil, bias: nil,
                                       rows: n, studentDim: d, teacherDim: d, kind: kind)
            }
            var losses = [Float](repeating: 0, count: n), projected = [Float](repeating: 0, count: n * d)
            _ = forward(&losses, &projected)
            XCTAssertEqual(projected, student.values, "\(kind): projected rows are the student rows")
            let expected = (0..<n).map { r in
                Float(referenceRow(kind, x: student.values[r * d ..< (r + 1) * d], t: teacher.values[r * d ..< (r + 1) * d],
                                   weight: nil, bias: nil))
            }
            XCTAssertLessThanOrEqual(worstRelativeDifference(losses, expected).error, valueTolerance, "\(kind)")
            func objective() -> Double {
                var losses = [Float](repeating: 0, count: n), projected = [Float](repeating: 0, count: n * d)
                return Double(forward(&losses, &projected))
            }
            let dStudent = Gradient(count: n * d)
            var scratch = [Float](repeating: 0, count: n * d)
            hiddenAlignmentBackward(&dStudent.values, nil, nil, &scratch, projected, student.values, teacher.values,
                                    weight: nil, rows: n, studentDim: d, teacherDim: d, kind: kind, scale: 1 / Float(n))
            let tolerance = kind == .mse ? GradientTolerance.linear : GradientTolerance.smooth
            XCTAssertEqual(gradientCheck("\(kind) dStudent", student, analytic: dStudent.accumulated, step: hiddenStep,
                                         tolerance: tolerance, objective: objective), "")
        }
    }

    /// Zero rows: cosine loss 1, finite gradients; nothing is NaN.
    func testCosineOfZeroRowsIsFinite() {
        let d = 3
        let y: [Float] = [0, 0, 0, /**/ 0, 0, 0, /**/ 1, 2, 3]
        let t: [Float] = [1, -1, 2, /**/ 0, 0, 0, /**/ 0, 0, 0]
        var losses = [Float](repeating: .nan, count: 3)
        let mean = hiddenCosineForward(&losses, y, t, rows: 3, dim: d)
        XCTAssertEqual(losses, [1, 1, 1])
        XCTAssertEqual(mean, 1)
        var dY = [Float](repeating: 0, count: 9)
        hiddenCosineBackward(&dY, y, t, rows: 3, dim: d, scale: 1)
        XCTAssertTrue(dY.allSatisfy(\.isFinite), "\(dY)")
        XCTAssertEqual(Array(dY[3..<9]), [Float](repeating: 0, count: 6), "zero teacher row: no direction to follow")
        XCTAssertLessThan(dY[0], 0, "a zero student row is pulled toward the teacher's direction")
    }

    func testCosineIgnoresScaleAndMSEOfEqualRowsIsZero() {
        var rng = SplitMix(seed: 530)
        let t = Tensor(count: n * dt, rng: &rng).values
        var losses = [Float](repeating: 1, count: n)
        XCTAssertEqual(hiddenCosineForward(&losses, t.map { 3.5 * $0 }, t, rows: n, dim: dt), 0, accuracy: 1e-6)
        XCTAssertEqual(hiddenMSEForward(&losses, t, t, rows: n, dim: dt), 0)
        XCTAssertEqual(hiddenCosineForward(&losses, t.map { -$0 }, t, rows: n, dim: dt), 2, accuracy: 1e-6)
    }
}
