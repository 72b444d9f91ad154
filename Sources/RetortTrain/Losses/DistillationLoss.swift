// The distillation objective, per position and then a mean over the N = B·T positions:
//   α · τ²·D(p_t,τ, p_s,τ) + (1 − α) · CE(student, labels) + β · hidden
// D is the chosen divergence (Divergence.swift) against a full teacher (logits, (N, V)) or a sparse
// one (top-K ids, log-probs at τ, rest mass; SparseDistillation.swift); student: (N, V) logits;
// labels: (N). The logit part is evaluated here; the hidden part (HiddenAlignment.swift) lives on
// other tensors (chosen student and teacher layers) and is added with `adding(hidden:to:)`, its
// gradient by `hiddenAlignmentBackward(..., scale: scale · hiddenWeight)` for each aligned pair.

/// What the teacher provides at each position.
public enum DistillationTeacher {
    /// Teacher logits (N, V), softened by τ inside the loss.
    case full(logits: UnsafePointer<Float>)
    /// Top-K ids (N, K), their log-probabilities at τ (N, K) and the remaining mass (N).
    case sparse(ids: UnsafePointer<Int32>, logProbs: UnsafePointer<Float>, rest: UnsafePointer<Float>, topK: Int)
}

/// The weights and choices of the distillation objective.
public struct DistillationObjective: Sendable, Equatable {
    /// τ > 0: softmax temperature of the divergence term (the CE term is at temperature 1).
    public var temperature: Float
    /// α in 0...1: weight of τ²·D; 1 − α weighs the hard-label cross-entropy.
    public var alpha: Float
    /// Which divergence D compares teacher and student.
    public var divergence: DistillationDivergence
    /// β ≥ 0: weight of the hidden-state alignment term(s).
    public var hiddenWeight: Float
    /// How aligned hidden rows are compared.
    public var hiddenKind: HiddenAlignmentKind

    public init(temperature: Float, alpha: Float, divergence: DistillationDivergence = .forwardKL,
                hiddenWeight: Float = 0, hiddenKind: HiddenAlignmentKind = .mse) {
        precondition(temperature > 0, "temperature must be positive")
        precondition((0...1).contains(alpha), "alpha must be in 0...1")
        precondition(hiddenWeight >= 0, "hidden weight must be non-negative")
        divergence.validate()
        self.temperature = temperature
        self.alpha = alpha
        self.divergence = divergence
        self.hiddenWeight = hiddenWeight
        self.hiddenKind = hiddenKind
    }

    /// `value` with the hidden term (mean alignment loss, summed over aligned layer pairs) added:
    /// hidden = `hidden`, total += β · hidden.
    public func adding(hidden: Float, to value: DistillationObjectiveValue) -> DistillationObjectiveValue {
        var out = value
        out.hidden = hidden
        out.total = value.total + hiddenWeight * hidden
        return out
    }
}

/// Means over the positions of the objective and of its (unweighted) terms.
public struct DistillationObjectiveValue: Sendable, Equatable {
    public var total: Float    // α · kd + (1 − α) · ce + β · hidden
    public var kd: Float       // τ² · D
    public var ce: Float       // cross-entropy on the labels
    public var hidden: Float   // hidden alignment (0 until `adding(hidden:to:)`)

    public init(total: Float, kd: Float, ce: Float, hidden: Float) {
        self.total = total
        self.kd = kd
        self.ce = ce
        self.hidden = hidden
    }
}

/// losses[r] = α · τ²·D_r + (1 − α) · CE_r. Returns the means of the logit part and of each term
/// (hidden = 0). Both terms are always evaluated, so both are reported whatever α is.
/// - losses: (N).
@discardableResult
public func distillationObjectiveForward(_ losses: UnsafeMutablePointer<Float>, _ student: UnsafePointer<Float>,
                                         teacher: DistillationTeacher, _ labels: UnsafePointer<Int32>,
                                         rows n: Int, vocab v: Int,
                                         objective: DistillationObjective) -> DistillationObjectiveValue {
    let tau = objective.temperature
    switch teacher {   // losses[r] = τ²·D_r
    case .full(let logits):
        distillationDivergenceForward(losses, student, logits, rows: n, vocab: v, temperature: tau,
                                      divergence: objective.divergence)
    case let .sparse(ids, logProbs, rest, topK):
        sparseDistillationForward(losses, student, ids, logProbs, rest, rows: n, vocab: v, topK: topK,
                                  temperature: tau, divergence: objective.divergence)
    }
    let alpha = Double(objective.alpha)
    var total: Double = 0, kdTotal: Double = 0, ceTotal: Double = 0
    for r in 0..<n {
        let zs = student + r * v
        let kd = Double(losses[r])
        let ce = logSumExp(zs, count: v) - Double(zs[Int(labels[r])])
        let loss = alpha * kd + (1 - alpha) * ce
        losses[r] = Float(loss)
        total += loss
        kdTotal += kd
        ceTotal += ce
    }
    let inv = n > 0 ? 1 / Double(n) : 0
    return DistillationObjectiveValue(total: Float(total * inv), kd: Float(kdTotal * inv), ce: Float(ceTotal * inv),
                                      hidden: 0)
}

/// dStudent += scale · (α · ∂(τ²·D)/∂z_s + (1 − α) · (softmax(z_s) − onehot(label))).
/// `scale` is ∂objective/∂losses[r]: 1/N for the mean `total` of `distillationObjectiveForward`.
/// - dStudent: (N, V).
public func distillationObjectiveBackward(_ dStudent: UnsafeMutablePointer<Float>, _ student: UnsafePointer<Float>,
                                          teacher: DistillationTeacher, _ labels: UnsafePointer<Int32>,
                                          rows n: Int, vocab v: Int, objective: DistillationObjective, scale: Float) {
    let tau = objective.temperature, alpha = objective.alpha
    if alpha > 0 {
        switch teacher {
        case .full(let logits):
            distillationDivergenceBackward(dStudent, student, logits, rows: n, vocab: v, temperature: tau,
                                           divergence: objective.divergence, scale: scale * alpha)
        case let .sparse(ids, logProbs, rest, topK):
            sparseDistillationBackward(dStudent, student, ids, logProbs, rest, rows: n, vocab: v, topK: topK,
                                       temperature: tau, divergence: objective.divergence, scale: scale * alpha)
        }
    }
    if alpha < 1 {
        crossEntropyBackward(dStudent, student, labels, rows: n, vocab: v, scale: scale * (1 - alpha))
    }
}

// MARK: The forward-KL mix (full teacher logits, no hidden term)

/// Mixing weights of α · τ²·KL(p_t,τ ‖ p_s,τ) + (1 − α) · CE: the `DistillationObjective` with forward
/// KL and no hidden term.
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

    /// The same objective in general form.
    public var objective: DistillationObjective { DistillationObjective(temperature: temperature, alpha: alpha) }
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
    let value = distillationObjectiveForward(losses, student, teacher: .full(logits: teacher), labels, rows: n, vocab: v,
                                             objective: mix.objective)
    return DistillationLossValue(total: value.total, kl: value.kd, ce: value.ce)
}

/// dStudent += scale · (α · τ · (p_s,τ − p_t,τ) + (1 − α) · (softmax(z_s) − onehot(label))).
/// `scale` is ∂objective/∂losses[r]: 1/N for the mean `total` of `distillationLossForward`.
/// - dStudent: (N, V).
public func distillationLossBackward(_ dStudent: UnsafeMutablePointer<Float>, _ student: UnsafePointer<Float>,
                                     _ teacher: UnsafePointer<Float>, _ labels: UnsafePointer<Int32>,
                                     rows n: Int, vocab v: Int, mix: DistillationMix, scale: Float) {
    distillationObjectiveBackward(dStudent, student, teacher: .full(logits: teacher), labels, rows: n, vocab: v,
                                  objective: mix.objective, scale: scale)
}
