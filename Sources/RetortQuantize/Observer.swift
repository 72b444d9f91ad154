import RetortModel

/// Histogram of |x| over [0, range) in `binCount` equal bins. The range starts at the first
/// non-zero absmax rounded up to a power of two and doubles (merging bin pairs) whenever a larger
/// value arrives, so one pass over the data suffices. Symmetric int8 needs only |x|.
public struct AbsHistogram: Sendable, Codable {
    public private(set) var counts: [Double]
    public private(set) var range: Float
    public private(set) var total: Double = 0
    public private(set) var absMax: Float = 0

    public init(binCount: Int = 2048) {
        precondition(binCount >= 16 && binCount % 2 == 0, "binCount must be even and ≥ 16")
        counts = [Double](repeating: 0, count: binCount)
        range = 0
    }

    /// A histogram with a fixed initial range (tests and merges).
    public init(binCount: Int, range: Float) {
        self.init(binCount: binCount)
        self.range = range
    }

    public var binCount: Int { counts.count }
    public var binWidth: Float { range / Float(counts.count) }

    public mutating func add(_ values: UnsafePointer<Float>, count: Int) {
        var m: Float = 0
        for i in 0..<count { m = max(m, abs(values[i])) }   // NaN compares false: ignored
        guard m.isFinite else { return }
        if m > 0 { grow(toInclude: m) }
        absMax = max(absMax, m)
        guard range > 0 else {
            counts[0] += Double(count)                     // all zeros so far
            total += Double(count)
            return
        }
        let n = counts.count
        let inv = Float(n) / range
        counts.withUnsafeMutableBufferPointer { c in
            for i in 0..<count {
                let a = abs(values[i])
                guard a.isFinite else { continue }
                c[min(n - 1, Int(a * inv))] += 1
            }
        }
        total += Double(count)
    }

    public mutating func add(_ values: [Float]) {
        values.withUnsafeBufferPointer { add($0.baseAddress!, count: $0.count) }
    }

    private mutating func grow(toInclude m: Float) {
        if range == 0 {
            var r: Float = 1
            while r < m { r *= 2 }
            while r / 2 >= m { r /= 2 }
            range = r
            return
        }
        while m >= range {
            let n = counts.count
            for i in 0..<n / 2 { counts[i] = counts[2 * i] + counts[2 * i + 1] }
            for i in n / 2 ..< n { counts[i] = 0 }
            range *= 2
        }
    }
}

/// Statistics of one matrix input (one site of one layer), gathered over calibration rows:
/// running min/max, per-channel abs-max, a histogram of |x|, and up to `sampleCap` rows kept for
/// searches that need the values themselves (SmoothQuant α, static scales after smoothing).
public final class InputObserver: @unchecked Sendable {
    public let layer: Int
    public let input: LlamaSession.MatmulInput
    public let width: Int
    public private(set) var rows = 0
    public private(set) var minValue = Float.infinity
    public private(set) var maxValue = -Float.infinity
    public private(set) var channelAbsMax: [Float]
    public var histogram: AbsHistogram
    public private(set) var samples: [Float] = []
    public let sampleCap: Int
    let sampleEvery: Int

    public init(layer: Int, input: LlamaSession.MatmulInput, width: Int, bins: Int = 2048,
                sampleCap: Int = 0, sampleEvery: Int = 8) {
        self.layer = layer
        self.input = input
        self.width = width
        channelAbsMax = [Float](repeating: 0, count: width)
        histogram = AbsHistogram(binCount: bins)
        self.sampleCap = sampleCap
        self.sampleEvery = max(1, sampleEvery)
    }

    public var sampleRows: Int { samples.count / width }
    public var absMax: Float { max(abs(minValue), abs(maxValue)) }

    public func observe(_ x: UnsafePointer<Float>, rows t: Int, histogram withHistogram: Bool = true) {
        channelAbsMax.withUnsafeMutableBufferPointer { cm in
            for r in 0..<t {
                let row = x + r * width
                for i in 0..<width {
                    let v = row[i]
                    if v < minValue { minValue = v }
                    if v > maxValue { maxValue = v }
                    let a = abs(v)
                    if a > cm[i] { cm[i] = a }
                }
                if sampleCap > 0 && samples.count < sampleCap * width && (rows + r) % sampleEvery == 0 {
                    samples.append(contentsOf: UnsafeBufferPointer(start: row, count: width))
                }
            }
        }
        if withHistogram { histogram.add(x, count: t * width) }
        rows += t
    }
}

/// One observer per (layer, matrix input) of a model, attached to a `LlamaSession`.
public final class ModelObservers: @unchecked Sendable {
    public let config: LlamaConfig
    public let observers: [String: InputObserver]
    public var histograms = true

    public init(config c: LlamaConfig, bins: Int = 2048, sampleCap: Int = 0, sampleEvery: Int = 8) {
        var all: [String: InputObserver] = [:]
        for l in 0..<c.layerCount {
            for input in [LlamaSession.MatmulInput.attentionInput, .attentionOutput, .mlpInput, .mlpDown] {
                let width = input == .attentionOutput ? c.qDim : input == .mlpDown ? c.ffnDim : c.dim
                all[ModelObservers.key(l, input)] = InputObserver(layer: l, input: input, width: width, bins: bins,
                                                                  sampleCap: sampleCap, sampleEvery: sampleEvery)
            }
        }
        all[ModelObservers.key(c.layerCount, .head)] = InputObserver(layer: c.layerCount, input: .head, width: c.dim, bins: bins,
                                                                     sampleCap: sampleCap, sampleEvery: sampleEvery)
        config = c
        observers = all
    }

    public static func key(_ layer: Int, _ input: LlamaSession.MatmulInput) -> String { "\(layer).\(input.rawValue)" }

    public subscript(layer: Int, input: LlamaSession.MatmulInput) -> InputObserver {
        observers[ModelObservers.key(layer, input)]!
    }

    /// Runs every sequence through `model` (host FP32) with the observers attached.
    public func run(model: LlamaModel, sequences: [[Int32]], progress: ((Int, Int) -> Void)? = nil) throws {
        let capacity = sequences.map(\.count).max() ?? 1
        let session = LlamaSession(model: model, capacity: max(capacity, 1))
        let withHistogram = histograms
        session.observer = { [observers] layer, input, values, rows, _ in
            observers[ModelObservers.key(layer, input)]!.observe(values, rows: rows, histogram: withHistogram)
        }
        for (i, sequence) in sequences.enumerated() {
            session.reset()
            try session.forward(sequence, logits: .all)      // `.all` so the head's input is observed
            progress?(i + 1, sequences.count)
        }
    }
}
