/// Median and spread of repeated measurements.
public struct Spread: Codable, Sendable, Equatable {
    public var median: Double
    public var min: Double
    public var max: Double
    /// First and third quartiles (linear interpolation between order statistics).
    public var q1: Double
    public var q3: Double
    public var count: Int

    /// The spread of `values`; nil when there are none.
    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let s = values.sorted()
        median = quantile(sorted: s, 0.5)
        min = s[0]
        max = s[s.count - 1]
        q1 = quantile(sorted: s, 0.25)
        q3 = quantile(sorted: s, 0.75)
        count = s.count
    }

    /// Relative half-range, (max − min) / (2 · median); 0 for a zero median.
    public var relativeHalfRange: Double { median != 0 ? (max - min) / (2 * abs(median)) : 0 }
}

/// The median of `values` (mean of the two middle values for an even count); 0 when empty.
public func median(_ values: [Double]) -> Double {
    values.isEmpty ? 0 : quantile(sorted: values.sorted(), 0.5)
}

/// The `p`-quantile (p in 0...1) of `values`, interpolating linearly between the order statistics
/// at ranks ⌊(n−1)p⌋ and ⌈(n−1)p⌉; 0 when empty.
public func percentile(_ values: [Double], _ p: Double) -> Double {
    values.isEmpty ? 0 : quantile(sorted: values.sorted(), p)
}

func quantile(sorted s: [Double], _ p: Double) -> Double {
    precondition(!s.isEmpty && p >= 0 && p <= 1, "quantile of an empty list or p outside 0...1")
    let position = Double(s.count - 1) * p
    let lower = Int(position.rounded(.down)), upper = Int(position.rounded(.up))
    let fraction = position - Double(lower)
    return s[lower] + (s[upper] - s[lower]) * fraction
}
