import Foundation

/// How a static activation range (clip threshold t, scale t / 127) is chosen from a histogram of |x|.
public enum Calibrator: Sendable, Equatable, CustomStringConvertible {
    /// t = max |x|: nothing is clipped.
    case minMax
    /// t = the given percentile of |x| (e.g. 99.99).
    case percentile(Double)
    /// t minimizing KL(P ‖ Q) between the clipped FP32 histogram P and its 128-level quantized
    /// version Q (TensorRT's entropy calibrator).
    case entropy
    /// t minimizing the expected squared quantization error (rounding inside, clipping outside).
    case mse

    public var description: String {
        switch self {
        case .minMax: "minmax"
        case .percentile(let p): "percentile-\(formatPercent(p))"
        case .entropy: "entropy"
        case .mse: "mse"
        }
    }

    /// Parses `minmax`, `percentile` (with `percentile` as its value), `entropy`, `mse`.
    public init?(name: String, percentile: Double = 99.99) {
        switch name {
        case "minmax", "min-max": self = .minMax
        case "percentile": self = .percentile(percentile)
        case "entropy", "kl": self = .entropy
        case "mse": self = .mse
        default: return nil
        }
    }

    /// The clip threshold for `histogram` (0 when it saw only zeros).
    public func threshold(_ h: AbsHistogram) -> Float {
        guard h.total > 0, h.absMax > 0 else { return 0 }
        switch self {
        case .minMax: return h.absMax
        case .percentile(let p): return percentileThreshold(h, percentile: p)
        case .entropy: return entropyThreshold(h)
        case .mse: return mseThreshold(h)
        }
    }
}

func formatPercent(_ p: Double) -> String {
    var s = String(format: "%.4f", p)
    while s.hasSuffix("0") { s.removeLast() }
    if s.hasSuffix(".") { s.removeLast() }
    return s
}

/// The smallest t with at least `percentile`% of |x| ≤ t, interpolated linearly inside the bin.
func percentileThreshold(_ h: AbsHistogram, percentile p: Double) -> Float {
    let target = h.total * min(max(p, 0), 100) / 100
    var cumulative = 0.0
    let w = h.binWidth
    for (i, c) in h.counts.enumerated() {
        if cumulative + c >= target && c > 0 {
            let fraction = (target - cumulative) / c
            return min(h.absMax, (Float(i) + Float(fraction)) * w)
        }
        cumulative += c
    }
    return h.absMax
}

/// TensorRT-style entropy calibration over the |x| histogram: for each candidate end bin i ≥ 128,
/// P = counts[0 ..< i] with the clipped tail added to bin i − 1; Q = counts[0 ..< i] (without the
/// tail) merged into 128 levels and spread back uniformly over each level's non-empty bins, so
/// clipping a heavy tail costs KL at the last bin and coarse levels cost KL everywhere. Returns the upper edge i · binWidth of the
/// minimal KL(P ‖ Q), never beyond max |x|.
func entropyThreshold(_ h: AbsHistogram, levels: Int = 128, step: Int = 4) -> Float {
    let n = h.binCount
    let counts = h.counts
    guard let lastNonZero = counts.lastIndex(where: { $0 > 0 }) else { return 0 }
    let end = lastNonZero + 1
    if end <= levels { return h.absMax }
    var suffix = [Double](repeating: 0, count: n + 1)
    for i in stride(from: n - 1, through: 0, by: -1) { suffix[i] = suffix[i + 1] + counts[i] }
    var best = (kl: Double.infinity, bin: end)
    var p = [Double](repeating: 0, count: n), q = [Double](repeating: 0, count: n)
    var candidates = Array(stride(from: levels, to: end, by: step))
    candidates.append(end)
    for i in candidates {
        for j in 0..<i { p[j] = counts[j] }
        p[i - 1] += suffix[i]
        // Merge the i bins into `levels` levels; spread each level's mass over its non-empty bins.
        for level in 0..<levels {
            let start = level * i / levels, stop = (level + 1) * i / levels
            var mass = 0.0, nonEmpty = 0
            for j in start..<stop {
                mass += counts[j]
                if counts[j] > 0 { nonEmpty += 1 }
            }
            let each = nonEmpty > 0 ? mass / Double(nonEmpty) : 0
            for j in start..<stop { q[j] = counts[j] > 0 ? each : 0 }
        }
        let kl = klDivergence(p, q, count: i)
        if kl < best.kl { best = (kl, i) }
    }
    return min(h.absMax, Float(best.bin) * h.binWidth)
}

/// KL(p ‖ q) over the first `count` entries, both normalized; bins where p > 0 and q = 0 get a
/// small floor so the divergence stays finite.
func klDivergence(_ p: [Double], _ q: [Double], count: Int) -> Double {
    var sp = 0.0, sq = 0.0
    for j in 0..<count { sp += p[j]; sq += q[j] }
    guard sp > 0, sq > 0 else { return .infinity }
    var kl = 0.0
    for j in 0..<count where p[j] > 0 {
        let pj = p[j] / sp
        let qj = max(q[j] / sq, 1e-12)
        kl += pj * log(pj / qj)
    }
    return kl
}

/// t minimizing Σ_bins count · e(center, t): values above t are clipped ((c − t)²); values inside
/// round with step s = t / 127 (c² when they round to 0, else s²/12).
func mseThreshold(_ h: AbsHistogram, step: Int = 4) -> Float {
    let n = h.binCount, w = Double(h.binWidth)
    guard let lastNonZero = h.counts.lastIndex(where: { $0 > 0 }) else { return 0 }
    var best = (err: Double.infinity, t: Double(h.absMax))
    let top = Double(h.absMax)
    var candidates = Array(stride(from: 1, through: min(n, lastNonZero + 1), by: step)).map { Double($0) * w }
    candidates.append(top)
    for t in candidates where t > 0 && t <= top {
        let s = t / 127
        var err = 0.0
        for (i, c) in h.counts.enumerated() where c > 0 {
            let center = min((Double(i) + 0.5) * w, top)
            if center > t {
                err += c * (center - t) * (center - t)
            } else if center < s / 2 {
                err += c * center * center
            } else {
                err += c * s * s / 12
            }
        }
        if err < best.err { best = (err, t) }
    }
    return Float(best.t)
}
