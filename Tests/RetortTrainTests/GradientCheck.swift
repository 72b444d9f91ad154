import Foundation

// Finite-difference gradient checking for the training layers and losses.
//
// Each check perturbs one input element at a time by ±h, evaluates the scalar objective (in
// Double) on both sides and compares the central difference (f(x+h) − f(x−h)) / 2h with the
// analytic gradient. Error per element is relative:
//   |analytic − numeric| / max(|analytic|, |numeric|, floor · max_i |numeric_i|)
// — the floor keeps elements whose gradient is tiny compared with the tensor's largest from
// failing on finite-difference noise.

/// Named tolerances for gradient checks in Float with central differences.
enum GradientTolerance {
    /// Linear or near-linear layers (matmul, RoPE, embedding, residual): only rounding error.
    static let linear: Float = 2e-3
    /// Smooth nonlinear layers and losses (RMSNorm, SwiGLU, softmax, attention): O(h²) truncation too.
    static let smooth: Float = 1e-2
    /// Relative floor (fraction of the tensor's largest numeric gradient) for the error denominator.
    static let floor: Float = 1e-2
    /// A whole model in Float: the objective's rounding (~1e-7 relative to a loss of a few nats,
    /// divided by 2h) puts a noise of a few 1e-6 on every difference, so elements under 5% of the
    /// tensor's largest gradient are judged against that scale.
    static let wholeModel: Float = 2e-2
    static let wholeModelFloor: Float = 5e-2
}

/// Gradient buffers start at this value instead of 0, and checks subtract it back: a backward
/// that overwrites (`=`) instead of accumulating (`+=`) fails its check.
let accumulationSentinel: Float = 0.25

/// A tensor whose values the objective reads and the check perturbs (a class, so closures see edits).
final class Tensor {
    var values: [Float]
    init(_ values: [Float]) { self.values = values }
    init(count: Int, rng: inout SplitMix, scale: Float = 1, center: Float = 0) {
        values = (0..<count).map { _ in center + scale * (rng.nextUnit() * 2 - 1) }
    }
    var count: Int { values.count }
}

/// A gradient buffer pre-filled with `accumulationSentinel`; `accumulated` is what backward added.
final class Gradient {
    var values: [Float]
    init(count: Int) { values = [Float](repeating: accumulationSentinel, count: count) }
    var accumulated: [Float] { values.map { $0 - accumulationSentinel } }
}

/// Compares `analytic` with central differences of `objective` w.r.t. every element of `x`.
/// Returns "" when all elements pass, else a report naming the worst elements.
func gradientCheck(_ name: String, _ x: Tensor, analytic: [Float], step h: Float, tolerance: Float,
                   floor: Float = GradientTolerance.floor, limit: Int = 5, objective: () -> Double) -> String {
    precondition(analytic.count == x.count, "\(name): analytic gradient has \(analytic.count) elements, tensor \(x.count)")
    var numeric = [Float](repeating: 0, count: x.count)
    for i in 0..<x.count {
        let saved = x.values[i]
        x.values[i] = saved + h
        let plus = objective()
        x.values[i] = saved - h
        let minus = objective()
        x.values[i] = saved
        numeric[i] = Float((plus - minus) / Double(2 * h))
    }
    let scale = numeric.map(abs).max() ?? 0
    var bad: [(index: Int, error: Float)] = []
    for i in 0..<x.count {
        let a = analytic[i], n = numeric[i]
        let denominator = max(abs(a), abs(n), floor * scale, Float.leastNormalMagnitude)
        let error = abs(a - n) / denominator
        if !(error <= tolerance) { bad.append((i, error)) }
    }
    if bad.isEmpty { return "" }
    let worst = bad.sorted { $0.error > $1.error }.prefix(limit)
    return "\(name): \(bad.count)/\(x.count) elements outside relative tolerance \(tolerance) (step \(h)); worst: "
        + worst.map { "[\($0.index)] analytic \(analytic[$0.index]) numeric \(numeric[$0.index]) (rel \($0.error))" }
            .joined(separator: ", ")
}

/// Random fixed weights c for the objective L = Σ c_i · out_i, whose gradient dL/dout is c.
func projection(count: Int, rng: inout SplitMix) -> [Float] {
    (0..<count).map { _ in rng.nextUnit() * 2 - 1 }
}

/// Σ c_i · out_i in Double.
func project(_ out: [Float], _ c: [Float]) -> Double {
    var sum: Double = 0
    for i in 0..<out.count { sum += Double(out[i]) * Double(c[i]) }
    return sum
}

/// SplitMix64: a small seeded generator so tests are reproducible.
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    mutating func nextUnit() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }
    mutating func nextInt(_ upperBound: Int) -> Int { Int(next() % UInt64(upperBound)) }
}
