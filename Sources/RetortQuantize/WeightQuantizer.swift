/// How a weight matrix W[N][K] is stored in int8.
public enum WeightScheme: Sendable, Equatable, CustomStringConvertible {
    /// One scale per output row.
    case perChannel
    /// One scale per group of `groupSize` consecutive inputs of each row.
    case perGroup(Int)

    public var description: String {
        switch self {
        case .perChannel: "per-channel"
        case .perGroup(let g): "per-group-\(g)"
        }
    }

    /// Scales per row for a row of `cols` inputs.
    func groups(cols: Int) -> Int {
        switch self {
        case .perChannel: 1
        case .perGroup(let g): cols / g
        }
    }
}

/// A quantized matrix: int8 values in [-127, 127] `[rows][cols]` and f32 scales `[rows][groups]`.
public struct QuantizedMatrix: Sendable {
    public var q: [Int8]
    public var scales: [Float]
    public var rows: Int
    public var cols: Int
    public var scheme: WeightScheme

    /// value ≈ q · scale of its (row, group).
    public func dequantized() -> [Float] {
        let groups = scheme.groups(cols: cols), g = cols / groups
        var out = [Float](repeating: 0, count: rows * cols)
        for r in 0..<rows {
            for i in 0..<cols { out[r * cols + i] = Float(q[r * cols + i]) * scales[r * groups + i / g] }
        }
        return out
    }
}

/// Clip ratios tried by the weight clipping search (1 = plain absmax).
public let weightClipRatios: [Float] = stride(from: 1.0, through: 0.70, by: -0.02).map { Float($0) }

/// Symmetric int8 quantization of W[rows][cols] per channel or per group. Each block (row or
/// group) gets scale = r · max|w| / 127 with r = 1, or with `clipSearch` the ratio r from
/// `weightClipRatios` minimizing the block's squared error. All-zero blocks get scale 0 and
/// q = 0; no NaN for any finite input.
public func quantizeWeights(_ w: UnsafePointer<Float>, rows: Int, cols: Int, scheme: WeightScheme,
                            clipSearch: Bool = false) -> QuantizedMatrix {
    if case .perGroup(let g) = scheme {
        precondition(g > 0 && cols % g == 0, "group size \(g) must divide the row length \(cols)")
    }
    let groups = scheme.groups(cols: cols), g = cols / groups
    var q = [Int8](repeating: 0, count: rows * cols)
    var scales = [Float](repeating: 0, count: rows * groups)
    let ratios = clipSearch ? weightClipRatios : [1]
    q.withUnsafeMutableBufferPointer { qb in
        scales.withUnsafeMutableBufferPointer { sb in
            let qp = qb.baseAddress!, sp = sb.baseAddress!
            for r in 0..<rows {
                for j in 0..<groups {
                    let base = r * cols + j * g
                    var m: Float = 0
                    for i in 0..<g { m = max(m, abs(w[base + i])) }
                    guard m > 0 && m.isFinite else { continue }
                    var best = (err: Float.infinity, scale: m / 127)
                    for ratio in ratios {
                        let s = ratio * m / 127
                        let inv = 1 / s
                        var err: Float = 0
                        for i in 0..<g {
                            let v = w[base + i]
                            let d = v - s * max(-127, min(127, (v * inv).rounded(.toNearestOrEven)))
                            err += d * d
                        }
                        if err < best.err { best = (err, s) }
                    }
                    let s = best.scale, inv = 1 / s
                    sp[r * groups + j] = s
                    for i in 0..<g {
                        qp[base + i] = Int8(max(-127, min(127, (w[base + i] * inv).rounded(.toNearestOrEven))))
                    }
                }
            }
        }
    }
    return QuantizedMatrix(q: q, scales: scales, rows: rows, cols: cols, scheme: scheme)
}
