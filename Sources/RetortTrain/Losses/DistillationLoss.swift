// The distillation objective: α · τ² · KL(p_t,τ ‖ p_s,τ) + (1 − α) · CE(student, labels),
// each term a mean over the N = B·T positions. student, teacher: (N, V); labels: (N).

/// Mixing weights of the distillation objective.
public struct DistillationMix: Sendable, Equatable {
    /// τ > 0: softmax temperature of the KL term.
    public var temperature: Float
    /// α in 0...1: weight of the KL term; 1 − α weighs the hard-label cross-entropy.
    public var alpha: Float

    public init(temperature: Float, alpha: Float) {
        precondition(temperature > 0, "temperature must be positive")
        precondition((0...1).contains(alpha), "alpha must be in 0...1")
        self.temperature = temperature
        self.alpha = alpha
    }
}

/// Means over the positions of the objective and of its two (unweighted) terms.
public struct DistillationLossValue: Sendable, Equatable {
    public var total: Float   // α · kl + (1 − α) · ce
    public var kl: Float      // τ² · KL, the mean of `distillationKLForward`
    public var ce: Float      // the mean of `crossEntropyForward`
}

/// losses[r] = α · τ²·KL_r + (1 − α) · CE_r. Returns the means of the total and of each term.
/// - losses: (N).
@discardableResult
public func distillationLossForward(_ losses: UnsafeMutablePointer<Float>, _ student: UnsafePointer<Float>,
                                    _ teacher: UnsafePointer<Float>, _ labels: UnsafePointer<Int32>,
                                    rows n: Int, vocab v: Int, mix: DistillationMix) -> DistillationLossValue {
    let tau = Double(mix.temperature), alpha = Double(mix.alpha)
    var total: Double = 0, klTotal: Double = 0, ceTotal: Double = 0
    for r in 0..<n {
        let zs = student + r * v
        let kl = tau * tau * klRow(zs, teacher + r * v, count: v, inverseTemperature: 1 / tau)
        let ce = logSumExp(zs, count: v) - Double(zs[Int(labels[r])])
        let loss = alpha * kl + (1 - alpha) * ce
        losses[r] = Float(loss)
        total += loss
        klTotal += kl
        ceTotal += ce
    }
    let inv = n > 0 ? 1 / Double(n) : 0
    return DistillationLossValue(total: Float(total * inv), kl: Float(klTotal * inv), ce: Float(ceTotal * inv))
}

/// dStudent += scale · (α · τ · (p_s,τ − p_t,τ) + (1 − α) · (softmax(z_s) − onehot(label))).
/// `scale` is ∂objective/∂losses[r]: 1/N for the mean `total` of `distillationLossForward`.
/// - dStudent: (N, V).
public func distillationLossBackward(_ dStudent: UnsafeMutablePointer<Float>, _ student: UnsafePointer<Float>,
                                     _ teacher: UnsafePointer<Float>, _ labels: UnsafePointer<Int32>,
                                     rows n: Int, vocab v: Int, mix: DistillationMix, scale: Float) {
    if mix.alpha > 0 {
        distillationKLBackward(dStudent, student, teacher, rows: n, vocab: v, temperature: mix.temperature,
                               scale: scale * mix.alpha)
    }
    if mix.alpha < 1 {
        crossEntropyBackward(dStudent, student, labels, rows: n, vocab: v, scale: scale * (1 - mix.alpha))
    }
}
