import Foundation

// Knowledge distillation at temperature τ (Hinton et al. 2015), over the full vocabulary.
// N = B·T positions, V vocabulary. student, teacher: (N, V) logits.
//
// Per position, with p_s = softmax(z_s / τ) and p_t = softmax(z_t / τ):
//   loss = τ² · KL(p_t ‖ p_s) = τ² · Σ_j p_t,j · (log p_t,j − log p_s,j)
// Gradient w.r.t. the student logits: only −Σ_j p_t,j log p_s,j depends on z_s, and
//   ∂ log p_s,j / ∂z_s,i = (δ_ij − p_s,i) / τ,
// so ∂KL/∂z_s,i = −Σ_j p_t,j (δ_ij − p_s,i) / τ = (p_s,i − p_t,i) / τ   (Σ_j p_t,j = 1), and
//   ∂loss/∂z_s = τ · (p_s − p_t).
// The τ² factor keeps gradient magnitudes comparable across temperatures (and with the CE term).
// The mean over N positions scales this by 1/N. The teacher receives no gradient.

/// losses[r] = τ² · KL(p_t,τ ‖ p_s,τ) at position r. Returns the mean over the N positions.
/// Nothing is saved; the backward pass recomputes both softmaxes.
/// - losses: (N).
@discardableResult
public func distillationKLForward(_ losses: UnsafeMutablePointer<Float>, _ student: UnsafePointer<Float>,
                                  _ teacher: UnsafePointer<Float>, rows n: Int, vocab v: Int,
                                  temperature: Float) -> Float {
    precondition(temperature > 0, "temperature must be positive")
    let tau = Double(temperature)
    var total: Double = 0
    for r in 0..<n {
        let loss = tau * tau * klRow(student + r * v, teacher + r * v, count: v, inverseTemperature: 1 / tau)
        losses[r] = Float(loss)
        total += loss
    }
    return n > 0 ? Float(total / Double(n)) : 0
}

/// dStudent[r, :] += scale · τ · (p_s,τ − p_t,τ).
/// `scale` is ∂objective/∂losses[r]: 1/N for the mean returned by `distillationKLForward`.
/// - dStudent: (N, V).
public func distillationKLBackward(_ dStudent: UnsafeMutablePointer<Float>, _ student: UnsafePointer<Float>,
                                   _ teacher: UnsafePointer<Float>, rows n: Int, vocab v: Int,
                                   temperature: Float, scale: Float) {
    precondition(temperature > 0, "temperature must be positive")
    let inv = 1 / Double(temperature), k = Double(scale) * Double(temperature)
    for r in 0..<n {
        let zs = student + r * v, zt = teacher + r * v, dz = dStudent + r * v
        let lseS = logSumExp(zs, count: v, inverseTemperature: inv)
        let lseT = logSumExp(zt, count: v, inverseTemperature: inv)
        for j in 0..<v {
            let ps = exp(Double(zs[j]) * inv - lseS), pt = exp(Double(zt[j]) * inv - lseT)
            dz[j] += Float(k * (ps - pt))
        }
    }
}

/// KL(p_t ‖ p_s) of one row at inverse temperature 1/τ, in Double.
func klRow(_ zs: UnsafePointer<Float>, _ zt: UnsafePointer<Float>, count v: Int, inverseTemperature inv: Double) -> Double {
    let lseS = logSumExp(zs, count: v, inverseTemperature: inv)
    let lseT = logSumExp(zt, count: v, inverseTemperature: inv)
    var kl: Double = 0
    for j in 0..<v {
        let logPt = Double(zt[j]) * inv - lseT, logPs = Double(zs[j]) * inv - lseS
        kl += exp(logPt) * (logPt - logPs)
    }
    return max(kl, 0)   // ≥ 0 exactly; clamp rounding when p_s ≈ p_t
}
