import Foundation

// Hidden-state alignment between a student layer and a teacher layer (FitNets / TinyBERT-style).
// N = B·T rows, Ds student width, Dt teacher width.
//   student: (N, Ds) hidden rows;  teacher: (N, Dt) hidden rows;
//   weight: (Dt, Ds) learned projection, bias: (Dt) optional;  projected y: (N, Dt).
// y = student · weightᵀ + bias, or y = student when no projection is given (then Ds == Dt).
//
// MSE, per row:     loss_r = (1/Dt) Σ_d (y_d − t_d)²           ∂loss_r/∂y = (2/Dt) (y − t)
//   (the mean over rows of this is the mean over all N·Dt elements).
// Cosine, per row:  loss_r = 1 − cos_r,  cos_r = y·t / (‖y‖_ε ‖t‖_ε),  ‖x‖_ε = sqrt(Σ x² + ε²)
//                   ∂loss_r/∂y = −(t / (‖y‖_ε ‖t‖_ε) − cos_r · y / ‖y‖_ε²)
//   ε = `HiddenAlignmentKind.cosineEpsilon` (1e-6) keeps the loss smooth and finite everywhere: a zero
//   row has cos = 0 (loss 1) and a finite gradient; real hidden rows have norms ≫ ε, so ε does not
//   change their value. (Near a zero student row the gradient is large, ~‖t‖/(ε‖t‖); the direction is
//   undefined there.)
// Projection backward (as Matmul.swift, plus the bias):
//   dStudent += dY · weight,  dWeight += dYᵀ · student,  dBias += Σ_rows dY.
// Both losses return the mean over rows; their backward takes `scale` = ∂objective/∂loss_r (1/N for
// the mean; β_hidden/N inside the distillation objective). Sums are in Double.

/// How hidden rows are compared.
public enum HiddenAlignmentKind: Sendable, Equatable {
    /// Mean squared error per element.
    case mse
    /// 1 − cosine similarity per row.
    case cosine

    /// ε in ‖x‖_ε = sqrt(Σ x² + ε²), the norms of the cosine loss.
    public static let cosineEpsilon: Double = 1e-6
}

// MARK: MSE

/// losses[r] = (1/D) Σ_d (y[r, d] − t[r, d])². Returns the mean over the N rows.
/// - losses: (N);  y, t: (N, D).
@discardableResult
public func hiddenMSEForward(_ losses: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, _ t: UnsafePointer<Float>,
                             rows n: Int, dim d: Int) -> Float {
    var total: Double = 0
    for r in 0..<n {
        var sum: Double = 0
        for i in r * d ..< (r + 1) * d {
            let e = Double(y[i]) - Double(t[i])
            sum += e * e
        }
        let loss = sum / Double(d)
        losses[r] = Float(loss)
        total += loss
    }
    return n > 0 ? Float(total / Double(n)) : 0
}

/// dY[r, :] += scale · (2/D) · (y[r, :] − t[r, :]).
/// - dY, y, t: (N, D).
public func hiddenMSEBackward(_ dY: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, _ t: UnsafePointer<Float>,
                              rows n: Int, dim d: Int, scale: Float) {
    let k = 2 * Double(scale) / Double(d)
    for i in 0 ..< n * d { dY[i] += Float(k * (Double(y[i]) - Double(t[i]))) }
}

// MARK: Cosine

/// losses[r] = 1 − y[r]·t[r] / (‖y[r]‖_ε ‖t[r]‖_ε). Returns the mean over the N rows.
/// - losses: (N);  y, t: (N, D).
@discardableResult
public func hiddenCosineForward(_ losses: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, _ t: UnsafePointer<Float>,
                                rows n: Int, dim d: Int) -> Float {
    var total: Double = 0
    for r in 0..<n {
        let row = cosineRow(y + r * d, t + r * d, dim: d)
        let loss = 1 - row.cos
        losses[r] = Float(loss)
        total += loss
    }
    return n > 0 ? Float(total / Double(n)) : 0
}

/// dY[r, :] += −scale · (t[r] / (‖y[r]‖_ε ‖t[r]‖_ε) − cos_r · y[r] / ‖y[r]‖_ε²).
/// - dY, y, t: (N, D).
public func hiddenCosineBackward(_ dY: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, _ t: UnsafePointer<Float>,
                                 rows n: Int, dim d: Int, scale: Float) {
    for r in 0..<n {
        let yr = y + r * d, tr = t + r * d, dr = dY + r * d
        let row = cosineRow(yr, tr, dim: d)
        let a = Double(scale) / (row.normY * row.normT), b = Double(scale) * row.cos / (row.normY * row.normY)
        for i in 0..<d { dr[i] += Float(b * Double(yr[i]) - a * Double(tr[i])) }
    }
}

/// cos and the ε-norms of one pair of rows, in Double.
@inline(__always)
func cosineRow(_ y: UnsafePointer<Float>, _ t: UnsafePointer<Float>, dim d: Int) -> (cos: Double, normY: Double, normT: Double) {
    var dot: Double = 0, yy: Double = 0, tt: Double = 0
    for i in 0..<d {
        let a = Double(y[i]), b = Double(t[i])
        dot += a * b
        yy += a * a
        tt += b * b
    }
    let eps2 = HiddenAlignmentKind.cosineEpsilon * HiddenAlignmentKind.cosineEpsilon
    let normY = (yy + eps2).squareRoot(), normT = (tt + eps2).squareRoot()
    return (dot / (normY * normT), normY, normT)
}

// MARK: Projection and the whole alignment loss

/// out (N, Dt) = x (N, Ds) · weight (Dt, Ds)ᵀ + bias (Dt, optional).
public func hiddenProjectionForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                                    _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                                    rows n: Int, inDim ds: Int, outDim dt: Int) {
    matmulForward(out, x, weight, rows: n, inDim: ds, outDim: dt)
    if let bias {
        for r in 0..<n { for j in 0..<dt { out[r * dt + j] += bias[j] } }
    }
}

/// dx (N, Ds) += dOut · weight;  dWeight (Dt, Ds) += dOutᵀ · x;  dBias (Dt) += Σ_rows dOut (when given).
public func hiddenProjectionBackward(_ dx: UnsafeMutablePointer<Float>, _ dWeight: UnsafeMutablePointer<Float>,
                                     _ dBias: UnsafeMutablePointer<Float>?, _ dOut: UnsafePointer<Float>,
                                     _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                                     rows n: Int, inDim ds: Int, outDim dt: Int) {
    matmulBackward(dx, dWeight, dOut, x, weight, rows: n, inDim: ds, outDim: dt)
    if let dBias {
        for j in 0..<dt {
            var sum: Double = 0
            for r in 0..<n { sum += Double(dOut[r * dt + j]) }
            dBias[j] += Float(sum)
        }
    }
}

/// Projects the student rows (or copies them, with no weight: Ds == Dt and no bias) into
/// `projected` (N, Dt), saved for the backward pass, and returns the mean over rows of the chosen
/// loss against the teacher rows; losses (N) per row.
@discardableResult
public func hiddenAlignmentForward(_ losses: UnsafeMutablePointer<Float>, _ projected: UnsafeMutablePointer<Float>,
                                   _ student: UnsafePointer<Float>, _ teacher: UnsafePointer<Float>,
                                   weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
                                   rows n: Int, studentDim ds: Int, teacherDim dt: Int,
                                   kind: HiddenAlignmentKind) -> Float {
    if let weight {
        hiddenProjectionForward(projected, student, weight, bias, rows: n, inDim: ds, outDim: dt)
    } else {
        precondition(ds == dt && bias == nil, "hidden alignment without a projection needs equal widths and no bias")
        projected.update(from: student, count: n * dt)
    }
    switch kind {
    case .mse: return hiddenMSEForward(losses, projected, teacher, rows: n, dim: dt)
    case .cosine: return hiddenCosineForward(losses, projected, teacher, rows: n, dim: dt)
    }
}

/// dStudent (N, Ds) += scale · ∂loss/∂student; with a projection also dWeight (Dt, Ds) and dBias
/// (Dt, when the forward had a bias) += scale · their gradients. `dProjected` (N, Dt) is scratch,
/// overwritten (unused without a projection: the loss gradient is added to dStudent directly).
/// `projected` is what `hiddenAlignmentForward` saved.
public func hiddenAlignmentBackward(_ dStudent: UnsafeMutablePointer<Float>, _ dWeight: UnsafeMutablePointer<Float>?,
                                    _ dBias: UnsafeMutablePointer<Float>?, _ dProjected: UnsafeMutablePointer<Float>,
                                    _ projected: UnsafePointer<Float>, _ student: UnsafePointer<Float>,
                                    _ teacher: UnsafePointer<Float>, weight: UnsafePointer<Float>?,
                                    rows n: Int, studentDim ds: Int, teacherDim dt: Int,
                                    kind: HiddenAlignmentKind, scale: Float) {
    let dY: UnsafeMutablePointer<Float>
    if weight != nil {
        precondition(dWeight != nil, "a projected hidden alignment needs a weight gradient")
        dY = dProjected
        dY.update(repeating: 0, count: n * dt)
    } else {
        precondition(ds == dt, "hidden alignment without a projection needs equal widths")
        dY = dStudent
    }
    switch kind {
    case .mse: hiddenMSEBackward(dY, projected, teacher, rows: n, dim: dt, scale: scale)
    case .cosine: hiddenCosineBackward(dY, projected, teacher, rows: n, dim: dt, scale: scale)
    }
    if let weight, let dWeight {
        hiddenProjectionBackward(dStudent, dWeight, dBias, dY, student, weight, rows: n, inDim: ds, outDim: dt)
    }
}
