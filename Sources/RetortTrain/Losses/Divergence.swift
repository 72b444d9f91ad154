import Foundation
import RetortRuntime

// Distillation divergences between the teacher's and the student's distributions at temperature τ,
// over the full vocabulary. N = B·T positions, V vocabulary. student, teacher: (N, V) logits;
// p_t = softmax(z_t / τ), p_s = softmax(z_s / τ). Every loss is τ² · D(p_t, p_s) per position.
//
// Forward KL   D = KL(p_t ‖ p_s) = Σ_j p_t,j (log p_t,j − log p_s,j)           (distillationKLForward)
// Reverse KL   D = KL(p_s ‖ p_t) = Σ_j p_s,j (log p_s,j − log p_t,j)           (mode-seeking, MiniLLM)
// JSD_β        D = β·KL(p_t ‖ m) + (1 − β)·KL(p_s ‖ m),  m = β·p_t + (1 − β)·p_s,  β in (0, 1)
//              (the GKD convention with P = teacher, Q = student: β → 0 weighs the student's side;
//              D/β → KL(p_t ‖ p_s) as β → 0, D/(1 − β) → KL(p_s ‖ p_t) as β → 1; β = ½ is the JSD).
//
// Gradient, one derivation for all three. Write D = Σ_b f_b(q_b) over buckets b of the student
// distribution q (here every token is its own bucket, q = p_s; the sparse loss uses K + 1 buckets),
// and g_b = ∂D/∂q_b. A bucket's mass is a sum of softmax entries, so with ∂p_s,i/∂z_j =
// p_s,i (δ_ij − p_s,j) / τ,
//   ∂q_b/∂z_j = p_s,j ([j ∈ b] − q_b) / τ,   ∂D/∂z_j = (p_s,j / τ) · (g_b(j) − Σ_b q_b g_b).
// The code carries h_b = q_b · g_b, which stays finite where g_b does not (q_b → 0):
//   forward KL  g_b = −p_b / q_b                      h_b = −p_b
//   reverse KL  g_b = log q_b − log p_b + 1           h_b = q_b (log q_b − log p_b + 1)
//   JSD_β       g_b = (1 − β)(log q_b − log m_b)      h_b = (1 − β) q_b (log q_b − log m_b)
// (for JSD the β·p_t/m and (1 − β)·p_s/m parts of the derivative cancel: ∂/∂q of
//  β p log(p/m) + (1 − β) q log(q/m) is (1 − β)(log(q/m) + 1 − (βp + (1 − β)q)/m) = (1 − β) log(q/m)).
// With H = Σ_b h_b and a token j in bucket b: p_s,j g_b = (p_s,j / q_b) · h_b, so
//   ∂(τ² D)/∂z_j = τ · ((p_s,j / q_b) · h_b − p_s,j · H);  for single-token buckets τ · (h_j − p_s,j H).
// Forward KL: H = −Σ p = −1 and this is τ (p_s − p_t), as in DistillationKL.swift.
// All sums are in Double. A zero teacher mass contributes 0 · log 0 = 0; reverse KL floors the
// teacher's log-mass at `teacherLogMassFloor` so a zero teacher mass gives a large finite loss, not ∞.
//
// Speed. JSD_β (one log per token) runs the Double bucket code above. Full-vocabulary reverse KL has
// a SIMD row (`reverseKLRow`): exp by the runtime's `expApprox` (relative error < 1e-7), sums in
// Double. With x = (z_s − max z_s)/τ, y = (z_t − max z_t)/τ, S = Σ e^x, T = Σ e^y:
//   KL(p_s ‖ p_t) = Σ e^x (x − y) / S − (log S − log T),   H = KL + 1,
//   ∂(τ² KL)/∂z_s,j = τ · q_j · (x_j − y_j − (log S − log T) − KL).
// The sparse losses' bucket code is its plain reference (SparseDistillationTests, K = V). Rows are
// independent: callers split N over workers by offsetting the row pointers.

/// Which divergence between teacher and student distributions a distillation loss measures.
public enum DistillationDivergence: Sendable, Equatable {
    /// KL(p_t ‖ p_s): the student covers the teacher's mass (Hinton et al.).
    case forwardKL
    /// KL(p_s ‖ p_t): the student concentrates on the teacher's modes (MiniLLM).
    case reverseKL
    /// β·KL(p_t ‖ m) + (1 − β)·KL(p_s ‖ m), m = β·p_t + (1 − β)·p_s, β in (0, 1) (GKD).
    case jsd(beta: Float)

    func validate() {
        if case .jsd(let beta) = self { precondition(beta > 0 && beta < 1, "JSD β must be in (0, 1), got \(beta)") }
    }
}

/// log of the smallest normal Float (≈ −87.3): reverse KL's floor for a teacher log-mass.
let teacherLogMassFloor = log(Double(Float.leastNormalMagnitude))

/// One bucket's loss term f_b and h_b = q_b · ∂D/∂q_b, from log-masses (teacher lp, student lq).
@inline(__always)
func divergenceTerms(_ divergence: DistillationDivergence, teacherLogMass lp: Double,
                     studentLogMass lq: Double) -> (loss: Double, h: Double) {
    switch divergence {
    case .forwardKL:
        let p = exp(lp)
        return p > 0 ? (p * (lp - lq), -p) : (0, 0)
    case .reverseKL:
        let q = exp(lq), t = lq - max(lp, teacherLogMassFloor)
        return (q * t, q * (t + 1))
    case .jsd(let beta):
        let b = Double(beta), p = exp(lp), q = exp(lq)
        let lm = logAddExp(log(b) + lp, log(1 - b) + lq)
        let studentSide = (1 - b) * q * (lq - lm)
        return ((p > 0 ? b * p * (lp - lm) : 0) + studentSide, studentSide)
    }
}

/// log(e^a + e^b), exact for a or b = −∞.
@inline(__always)
func logAddExp(_ a: Double, _ b: Double) -> Double {
    let m = max(a, b)
    if m == -.infinity { return m }
    return m + log(exp(a - m) + exp(b - m))
}

/// losses[r] = τ² · D(p_t,τ, p_s,τ) at position r, over the full vocabulary. Returns the mean over the
/// N positions. Nothing is saved; the backward pass recomputes both softmaxes.
/// Forward KL is `distillationKLForward`.
/// - losses: (N).
@discardableResult
public func distillationDivergenceForward(_ losses: UnsafeMutablePointer<Float>, _ student: UnsafePointer<Float>,
                                          _ teacher: UnsafePointer<Float>, rows n: Int, vocab v: Int,
                                          temperature: Float, divergence: DistillationDivergence) -> Float {
    precondition(temperature > 0, "temperature must be positive")
    divergence.validate()
    if divergence == .forwardKL {
        return distillationKLForward(losses, student, teacher, rows: n, vocab: v, temperature: temperature)
    }
    let tau = Double(temperature), inv = 1 / tau
    var total: Double = 0
    if divergence == .reverseKL {
        for r in 0..<n {
            let loss = tau * tau * reverseKLRow(student + r * v, teacher + r * v, count: v, inverseTemperature: Float(inv),
                                                gradient: nil, factor: 0)
            losses[r] = Float(loss)
            total += loss
        }
        return n > 0 ? Float(total / Double(n)) : 0
    }
    for r in 0..<n {
        let zs = student + r * v, zt = teacher + r * v
        let lseS = logSumExp(zs, count: v, inverseTemperature: inv)
        let lseT = logSumExp(zt, count: v, inverseTemperature: inv)
        var d: Double = 0
        for j in 0..<v {
            d += divergenceTerms(divergence, teacherLogMass: Double(zt[j]) * inv - lseT,
                                 studentLogMass: Double(zs[j]) * inv - lseS).loss
        }
        let loss = tau * tau * max(d, 0)   // every divergence here is ≥ 0; clamp rounding when p_s ≈ p_t
        losses[r] = Float(loss)
        total += loss
    }
    return n > 0 ? Float(total / Double(n)) : 0
}

/// dStudent[r, j] += scale · τ · (h_j − p_s,j · Σ_i h_i), h as in the header (forward KL: τ (p_s − p_t)).
/// `scale` is ∂objective/∂losses[r]: 1/N for the mean returned by `distillationDivergenceForward`.
/// - dStudent: (N, V).
public func distillationDivergenceBackward(_ dStudent: UnsafeMutablePointer<Float>, _ student: UnsafePointer<Float>,
                                          _ teacher: UnsafePointer<Float>, rows n: Int, vocab v: Int,
                                          temperature: Float, divergence: DistillationDivergence, scale: Float) {
    precondition(temperature > 0, "temperature must be positive")
    divergence.validate()
    if divergence == .forwardKL {
        distillationKLBackward(dStudent, student, teacher, rows: n, vocab: v, temperature: temperature, scale: scale)
        return
    }
    let inv = 1 / Double(temperature), k = Double(scale) * Double(temperature)
    if divergence == .reverseKL {
        for r in 0..<n {
            reverseKLRow(student + r * v, teacher + r * v, count: v, inverseTemperature: Float(inv),
                         gradient: dStudent + r * v, factor: Float(k))
        }
        return
    }
    for r in 0..<n {
        let zs = student + r * v, zt = teacher + r * v, dz = dStudent + r * v
        let lseS = logSumExp(zs, count: v, inverseTemperature: inv)
        let lseT = logSumExp(zt, count: v, inverseTemperature: inv)
        var hSum: Double = 0
        for j in 0..<v {
            hSum += divergenceTerms(divergence, teacherLogMass: Double(zt[j]) * inv - lseT,
                                    studentLogMass: Double(zs[j]) * inv - lseS).h
        }
        for j in 0..<v {
            let lq = Double(zs[j]) * inv - lseS
            let h = divergenceTerms(divergence, teacherLogMass: Double(zt[j]) * inv - lseT, studentLogMass: lq).h
            dz[j] += Float(k * (h - exp(lq) * hSum))
        }
    }
}

// MARK: SIMD reverse KL

/// KL(p_s ‖ p_t) of one row at inverse temperature a (header); with `gradient`, also
/// gradient[j] += factor · q_j · (x_j − y_j − (log S − log T) − KL).
@discardableResult @inline(__always)
func reverseKLRow(_ zs: UnsafePointer<Float>, _ zt: UnsafePointer<Float>, count v: Int, inverseTemperature a: Float,
                  gradient dz: UnsafeMutablePointer<Float>?, factor c: Float) -> Double {
    let ms = SIMD8<Float>(repeating: simdRowMax(zs, count: v)), mt = SIMD8<Float>(repeating: simdRowMax(zt, count: v))
    let av = SIMD8<Float>(repeating: a)
    var sumS = SIMD8<Double>(), sumT = SIMD8<Double>(), cross = SIMD8<Double>()
    var j = 0
    while j + 8 <= v {
        let x = (load8(zs + j) - ms) * av, y = (load8(zt + j) - mt) * av
        let e = expApprox(x)
        sumS += SIMD8<Double>(e)
        sumT += SIMD8<Double>(expApprox(y))
        cross += SIMD8<Double>(e * (x - y))
        j += 8
    }
    var s = sumS.sum(), t = sumT.sum(), cr = cross.sum()
    while j < v {
        let x = (zs[j] - ms[0]) * a, y = (zt[j] - mt[0]) * a
        let e = expApprox(x)
        s += Double(e)
        t += Double(expApprox(y))
        cr += Double(e * (x - y))
        j += 1
    }
    let logRatio = log(s) - log(t)
    let kl = max(0, cr / s - logRatio)
    guard let dz else { return kl }
    let shift = SIMD8<Float>(repeating: Float(logRatio + kl)), k = SIMD8<Float>(repeating: c / Float(s))
    j = 0
    while j + 8 <= v {
        let x = (load8(zs + j) - ms) * av, y = (load8(zt + j) - mt) * av
        store8(dz + j, load8(dz + j) + k * expApprox(x) * ((x - y) - shift))
        j += 8
    }
    while j < v {
        let x = (zs[j] - ms[0]) * a, y = (zt[j] - mt[0]) * a
        dz[j] += k[0] * expApprox(x) * ((x - y) - shift[0])
        j += 1
    }
    return kl
}

@inline(__always)
private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

@inline(__always)
private func store8(_ p: UnsafeMutablePointer<Float>, _ value: SIMD8<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: value, as: SIMD8<Float>.self)
}

/// max_j z_j of one row.
@inline(__always)
private func simdRowMax(_ z: UnsafePointer<Float>, count v: Int) -> Float {
    var m8 = SIMD8<Float>(repeating: -.infinity)
    var j = 0
    while j + 8 <= v {
        m8 = pointwiseMax(m8, load8(z + j))
        j += 8
    }
    var m = m8.max()
    while j < v {
        m = max(m, z[j])
        j += 1
    }
    return m
}
