import Foundation

/// Learning rate as a function of the optimizer step: linear warmup from 0 to `peak` over
/// `warmupSteps`, then cosine decay to `peak · minimumRatio` at `totalSteps` (held after).
public struct LearningRateSchedule: Sendable, Codable, Equatable {
    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    public var minimumRatio: Float

    public init(peak: Float, warmupSteps: Int, totalSteps: Int, minimumRatio: Float = 0.1) {
        precondition(peak >= 0 && warmupSteps >= 0 && totalSteps >= 1, "schedule: peak ≥ 0, warmup ≥ 0, total ≥ 1")
        precondition(minimumRatio >= 0 && minimumRatio <= 1, "schedule: minimumRatio in 0...1")
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.minimumRatio = minimumRatio
    }

    /// Rate for the update numbered `step` (0-based).
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let span = max(1, totalSteps - warmupSteps)
        let progress = min(1, Double(step - warmupSteps) / Double(span))
        let cosine = 0.5 * (1 + cos(Double.pi * progress))
        return peak * (minimumRatio + (1 - minimumRatio) * Float(cosine))
    }
}

/// Distillation temperature as a function of training progress: constant, or decaying linearly
/// or by cosine from `start` to `end` over the run.
public enum TemperatureSchedule: Sendable, Codable, Equatable {
    case constant(Float)
    case linear(start: Float, end: Float)
    case cosine(start: Float, end: Float)

    /// Temperature at `progress` in 0...1 (fraction of the run done).
    public func temperature(at progress: Double) -> Float {
        let p = Float(min(1, max(0, progress)))
        switch self {
        case .constant(let t): return t
        case .linear(let a, let b): return a + (b - a) * p
        case .cosine(let a, let b): return b + (a - b) * 0.5 * (1 + cos(Float.pi * p))
        }
    }
}
