import Foundation
import RetortModel

/// AdamW settings (Loshchilov & Hutter): Adam moments with weight decay applied to the weights
/// directly ("decoupled"), not through the gradient.
public struct AdamWSettings: Sendable, Codable, Equatable {
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    /// Which tensors decay, by GGUF name: by default every matrix and the embedding; norm weights
    /// (`*_norm.weight`) never.
    public var decayNorms: Bool

    public init(beta1: Float = 0.9, beta2: Float = 0.95, epsilon: Float = 1e-8, weightDecay: Float = 0.1,
                decayNorms: Bool = false) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decayNorms = decayNorms
    }

    /// Whether the tensor named `name` (GGUF naming, as in `LlamaTensorName`) is decayed.
    public func decays(_ name: String) -> Bool {
        decayNorms || !name.hasSuffix("norm.weight")
    }
}

/// AdamW over every parameter of a Llama model. The moments are shaped like the weights; the
/// update of step t (1-based), learning rate η, decay λ, per element:
///   m ← β₁·m + (1−β₁)·g;  v ← β₂·v + (1−β₂)·g²
///   w ← w − η·( (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε) + λ·w )       (λ = 0 for non-decayed tensors)
public final class AdamW: @unchecked Sendable {
    public let settings: AdamWSettings
    public let config: LlamaConfig
    /// First and second moments, shaped (and tied) like the weights.
    public let m: LlamaWeights
    public let v: LlamaWeights
    /// Updates applied so far.
    public internal(set) var step: Int = 0

    public init(config: LlamaConfig, settings: AdamWSettings = AdamWSettings()) {
        self.config = config
        self.settings = settings
        m = LlamaWeights(config: config)
        v = LlamaWeights(config: config)
    }

    /// Applies one update to `weights` from `gradients` at learning rate `learningRate`.
    public func update(_ weights: LlamaWeights, gradients: LlamaWeights, learningRate: Float) {
        step += 1
        let s = settings
        let b1 = s.beta1, b2 = s.beta2, eps = s.epsilon
        let c1 = 1 - Float(pow(Double(b1), Double(step))), c2 = 1 - Float(pow(Double(b2), Double(step)))
        let w = LlamaTensorName.table(config: config, weights: weights)
        let g = LlamaTensorName.table(config: config, weights: gradients)
        let mt = LlamaTensorName.table(config: config, weights: m)
        let vt = LlamaTensorName.table(config: config, weights: v)
        for i in w.indices {
            let decay = s.decays(w[i].name) ? s.weightDecay : 0
            let wp = w[i].buffer.pointer, gp = g[i].buffer.pointer, mp = mt[i].buffer.pointer, vp = vt[i].buffer.pointer
            parallelChunks(w[i].buffer.count, minChunk: 1 << 14) { range in
                adamWUpdate(wp, gp, mp, vp, range, rate: learningRate, decay: decay, b1: b1, b2: b2, c1: c1, c2: c2, eps: eps)
            }
        }
    }

    /// Restores the step count (with `m` and `v` filled from a checkpoint).
    public func restore(step: Int) {
        precondition(step >= 0, "step must be non-negative")
        self.step = step
    }
}

/// √(Σ g²) over every gradient tensor (each parameter counted once, tied ones too), in Double
/// with a summation order fixed by the tensor order and the thread count.
public func globalNorm(_ gradients: LlamaWeights, config: LlamaConfig) -> Double {
    var total = 0.0
    for entry in LlamaTensorName.table(config: config, weights: gradients) {
        let p = entry.buffer.pointer, count = entry.buffer.count
        let workers = min(HostThreads.count, max(1, count >> 14))
        var partial = [Double](repeating: 0, count: workers)
        partial.withUnsafeMutableBufferPointer { out in
            let out = out.baseAddress!
            parallelWorkers(workers) { w in
                var sum = 0.0
                for j in (count * w / workers) ..< (count * (w + 1) / workers) { sum += Double(p[j]) * Double(p[j]) }
                out[w] = sum
            }
        }
        total += partial.reduce(0, +)
    }
    return total.squareRoot()
}

/// Scales every gradient so the global norm is at most `maxNorm`. Returns the norm before
/// clipping. `maxNorm` ≤ 0 or infinite turns clipping off (the norm is still returned).
@discardableResult
public func clipGradients(_ gradients: LlamaWeights, config: LlamaConfig, maxNorm: Double) -> Double {
    let norm = globalNorm(gradients, config: config)
    guard maxNorm > 0, maxNorm.isFinite, norm > maxNorm else { return norm }
    let scale = Float(maxNorm / norm)
    for entry in LlamaTensorName.table(config: config, weights: gradients) {
        let p = entry.buffer.pointer
        parallelChunks(entry.buffer.count, minChunk: 1 << 14) { range in
            for j in range { p[j] *= scale }
        }
    }
    return norm
}

/// The AdamW element update over `range`, eight lanes at a time (same arithmetic per lane as the
/// scalar tail, so results do not depend on where a chunk boundary falls).
@inline(__always)
private func adamWUpdate(_ w: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>,
                         _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>, _ range: Range<Int>,
                         rate: Float, decay: Float, b1: Float, b2: Float, c1: Float, c2: Float, eps: Float) {
    typealias V8 = SIMD8<Float>
    var j = range.lowerBound
    while j + 8 <= range.upperBound {
        let gj = UnsafeRawPointer(g + j).loadUnaligned(as: V8.self)
        let mj = b1 * UnsafeRawPointer(m + j).loadUnaligned(as: V8.self) + (1 - b1) * gj
        let vj = b2 * UnsafeRawPointer(v + j).loadUnaligned(as: V8.self) + (1 - b2) * gj * gj
        let wj = UnsafeRawPointer(w + j).loadUnaligned(as: V8.self)
        UnsafeMutableRawPointer(m + j).storeBytes(of: mj, as: V8.self)
        UnsafeMutableRawPointer(v + j).storeBytes(of: vj, as: V8.self)
        let update = (mj / c1) / ((vj / c2).squareRoot() + eps) + decay * wj
        UnsafeMutableRawPointer(w + j).storeBytes(of: wj - rate * update, as: V8.self)
        j += 8
    }
    while j < range.upperBound {
        let gj = g[j]
        let mj = b1 * m[j] + (1 - b1) * gj
        let vj = b2 * v[j] + (1 - b2) * gj * gj
        m[j] = mj
        v[j] = vj
        w[j] -= rate * ((mj / c1) / ((vj / c2).squareRoot() + eps) + decay * w[j])
        j += 1
    }
}
