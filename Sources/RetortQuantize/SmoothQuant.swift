import Foundation
import RetortModel
import RetortRuntime

/// SmoothQuant: divide a matrix input's channel j by s_j and multiply the weights that read it
/// (column j) by s_j, so X·Wᵀ = (X/s)·(W·diag(s))ᵀ is unchanged while activation outliers move
/// into the weights. s_j = max|X_j|^α / max|W_:,j|^(1−α), where the weight max runs over every
/// matrix that reads the input. The 1/s is folded into the producer of the input:
///
/// | input      | read by        | producer that absorbs 1/s                                   |
/// |------------|----------------|-------------------------------------------------------------|
/// | `attn_in`  | W_q, W_k, W_v  | attn_norm weight                                            |
/// | `attn_out` | W_o            | rows of W_v (one s per K/V channel, shared by its query heads) |
/// | `ffn_in`   | W_gate, W_up   | ffn_norm weight                                             |
/// | `ffn_down` | W_down         | rows of W_up (SwiGLU is linear in `up`)                     |
///
/// The output head is not smoothed: with tied embeddings its columns are also the embedding.
public enum Smoothing: Sendable, Equatable, CustomStringConvertible {
    case off
    /// One α for every smoothed input.
    case alpha(Float)
    /// Per input, the α of `grid` (or no smoothing) with the smallest output error of the
    /// quantized products on the calibration samples.
    case search([Float])

    public static let defaultGrid: [Float] = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]

    public var description: String {
        switch self {
        case .off: "off"
        case .alpha(let a): "smoothquant-\(formatPercent(Double(a)))"
        case .search: "smoothquant-auto"
        }
    }
}

/// The inputs SmoothQuant can move scale out of.
public let smoothableInputs: [LlamaSession.MatmulInput] = [.attentionInput, .attentionOutput, .mlpInput, .mlpDown]

/// Per-channel smoothing factors for one input of one layer.
public struct SmoothingFactors: Sendable, Codable {
    public var layer: Int
    public var input: String
    public var alpha: Float?          // nil: not smoothed (all ones)
    public var scales: [Float]        // width of the input
}

/// Matrices (rows N, cols K) that read `input` in layer `l`.
func consumers(_ w: LlamaLayerWeights, _ c: LlamaConfig, _ input: LlamaSession.MatmulInput) -> [(FloatBuffer, Int)] {
    switch input {
    case .attentionInput: [(w.wq, c.qDim), (w.wk, c.kvDim), (w.wv, c.kvDim)]
    case .attentionOutput: [(w.wo, c.dim)]
    case .mlpInput: [(w.wGate, c.ffnDim), (w.wUp, c.ffnDim)]
    case .mlpDown: [(w.wDown, c.dim)]
    case .head: []
    }
}

/// max |W_:,j| over every matrix reading the input.
func weightColumnAbsMax(_ matrices: [(FloatBuffer, Int)], width k: Int) -> [Float] {
    var m = [Float](repeating: 0, count: k)
    for (w, rows) in matrices {
        for r in 0..<rows {
            let row = w.pointer + r * k
            for j in 0..<k { m[j] = max(m[j], abs(row[j])) }
        }
    }
    return m
}

/// s_j = a_j^α / w_j^(1−α), 1 where either statistic is zero; clamped to [1e-4, 1e4]. For
/// `attn_out`, channels of the query heads that share a K/V head get one s (their max).
func smoothingScales(activationAbsMax a0: [Float], weightAbsMax w: [Float], alpha: Float,
                     input: LlamaSession.MatmulInput, config c: LlamaConfig) -> [Float] {
    var a = a0, w = w
    if input == .attentionOutput {
        // Both statistics are shared over the query heads of a K/V group, so s is too.
        let e = c.headDim, group = c.headCount / c.kvHeadCount
        for g in 0..<c.kvHeadCount {
            for i in 0..<e {
                var ma: Float = 0, mw: Float = 0
                for h in g * group ..< (g + 1) * group {
                    ma = max(ma, a[h * e + i])
                    mw = max(mw, w[h * e + i])
                }
                for h in g * group ..< (g + 1) * group {
                    a[h * e + i] = ma
                    w[h * e + i] = mw
                }
            }
        }
    }
    var s = [Float](repeating: 1, count: a.count)
    for j in 0..<a.count where a[j] > 0 && w[j] > 0 {
        let v = Float(powf(a[j], alpha) / powf(w[j], 1 - alpha))
        s[j] = v.isFinite ? min(1e4, max(1e-4, v)) : 1
    }
    return s
}

/// Folds factors into `model` in place: the FP32 function is unchanged up to rounding.
public func applySmoothing(_ model: LlamaModel, _ factors: [SmoothingFactors]) {
    let c = model.config
    for f in factors where f.alpha != nil {
        let w = model.weights.layers[f.layer]
        let s = f.scales
        guard let input = LlamaSession.MatmulInput(rawValue: f.input) else { continue }
        // Consumers: column j times s_j.
        for (m, rows) in consumers(w, c, input) {
            let k = s.count
            for r in 0..<rows {
                let row = m.pointer + r * k
                for j in 0..<k { row[j] *= s[j] }
            }
        }
        // Producer: divide by s.
        switch input {
        case .attentionInput:
            for j in 0..<c.dim { w.attnNorm[j] /= s[j] }
        case .mlpInput:
            for j in 0..<c.dim { w.ffnNorm[j] /= s[j] }
        case .attentionOutput:
            // Row g·E + i of W_v produces channel i of K/V head g, read by query heads of group g.
            let e = c.headDim, group = c.headCount / c.kvHeadCount
            for g in 0..<c.kvHeadCount {
                for i in 0..<e {
                    let factor = s[(g * group) * e + i]
                    let row = w.wv.pointer + (g * e + i) * c.dim
                    for j in 0..<c.dim { row[j] /= factor }
                }
            }
        case .mlpDown:
            for j in 0..<c.ffnDim {
                let row = w.wUp.pointer + j * c.dim
                for i in 0..<c.dim { row[i] /= s[j] }
            }
        case .head:
            break
        }
    }
}

/// A deep copy of `model`'s parameters.
public func copyModel(_ model: LlamaModel) -> LlamaModel {
    let copy = LlamaModel(config: model.config)
    for (src, dst) in zip(model.tensorTable, copy.tensorTable) {
        dst.buffer.pointer.update(from: src.buffer.pointer, count: src.buffer.count)
    }
    return copy
}

/// Chooses smoothing factors for every smoothable input of every layer from the observers'
/// per-channel abs-max (and, for `.search`, their sample rows).
public func smoothingFactors(model: LlamaModel, observers: ModelObservers, smoothing: Smoothing,
                             inputs: [LlamaSession.MatmulInput] = smoothableInputs,
                             weights: WeightScheme, activations: ActivationMode, calibrator: Calibrator,
                             pool: ThreadPool? = nil,
                             skip: (Int, LlamaSession.MatmulInput) -> Bool = { _, _ in false }) -> [SmoothingFactors] {
    let c = model.config
    var out: [SmoothingFactors] = []
    for l in 0..<c.layerCount {
        for input in inputs where !skip(l, input) {
            let o = observers[l, input]
            let lw = model.weights.layers[l]
            let matrices = consumers(lw, c, input)
            let wMax = weightColumnAbsMax(matrices, width: o.width)
            switch smoothing {
            case .off:
                continue
            case .alpha(let a):
                out.append(SmoothingFactors(layer: l, input: input.rawValue, alpha: a,
                                            scales: smoothingScales(activationAbsMax: o.channelAbsMax, weightAbsMax: wMax,
                                                                    alpha: a, input: input, config: c)))
            case .search(let grid):
                var best = (loss: quantizedOutputError(samples: o.samples, width: o.width, matrices: matrices, scales: nil,
                                                       weights: weights, activations: activations, calibrator: calibrator, pool: pool),
                            alpha: Float?.none, scales: [Float](repeating: 1, count: o.width))
                for a in grid {
                    let s = smoothingScales(activationAbsMax: o.channelAbsMax, weightAbsMax: wMax, alpha: a, input: input, config: c)
                    let loss = quantizedOutputError(samples: o.samples, width: o.width, matrices: matrices, scales: s,
                                                    weights: weights, activations: activations, calibrator: calibrator, pool: pool)
                    if loss < best.loss { best = (loss, a, s) }
                }
                out.append(SmoothingFactors(layer: l, input: input.rawValue, alpha: best.alpha, scales: best.scales))
            }
        }
    }
    return out
}

/// Σ over matrices of ‖X·Wᵀ − Q(X/s)·Q(W·diag(s))ᵀ‖² / ‖X·Wᵀ‖² on the sample rows, with the
/// runtime's own int8 kernels for the quantized product.
func quantizedOutputError(samples: [Float], width k: Int, matrices: [(FloatBuffer, Int)], scales: [Float]?,
                          weights scheme: WeightScheme, activations: ActivationMode, calibrator: Calibrator,
                          pool: ThreadPool?) -> Double {
    let t = samples.count / k
    guard t > 0 else { return 0 }
    var xs = samples
    if let scales {
        for r in 0..<t { for j in 0..<k { xs[r * k + j] /= scales[j] } }
    }
    var xq = [Int8](repeating: 0, count: t * k)
    var xScales = [Float](repeating: 0, count: t)
    switch activations {
    case .dynamic:
        quantizeRowsInt8(&xq, &xScales, xs, rows: t, cols: k)
    case .static:
        var h = AbsHistogram(binCount: 512)
        h.add(xs)
        quantizeRowsWithScale(&xq, &xScales, xs, rows: t, cols: k, scale: calibrator.threshold(h) / 127)
    }
    var total = 0.0
    for (w, n) in matrices {
        var ws = [Float](repeating: 0, count: n * k)
        ws.withUnsafeMutableBufferPointer { p in
            p.baseAddress!.update(from: w.pointer, count: n * k)
            if let scales { for r in 0..<n { for j in 0..<k { p[r * k + j] *= scales[j] } } }
        }
        var reference = [Float](repeating: 0, count: t * n)
        samples.withUnsafeBufferPointer { x in
            matmulF32(&reference, x.baseAddress!, w.pointer, rows: t, inDim: k, outDim: n, pool: pool)
        }
        let qw = ws.withUnsafeBufferPointer { quantizeWeights($0.baseAddress!, rows: n, cols: k, scheme: scheme) }
        var y = [Float](repeating: 0, count: t * n)
        runInt8(&y, xq, xScales, qw, rows: t, pool: pool)
        var num = 0.0, den = 0.0
        for i in 0..<t * n {
            let d = Double(y[i] - reference[i])
            num += d * d
            den += Double(reference[i]) * Double(reference[i])
        }
        total += den > 0 ? num / den : 0
    }
    return total
}

/// y = x·Wᵀ with the runtime's W8A8 kernels for `w`'s scheme.
func runInt8(_ y: UnsafeMutablePointer<Float>, _ xq: [Int8], _ xScales: [Float], _ w: QuantizedMatrix, rows t: Int, pool: ThreadPool?) {
    switch w.scheme {
    case .perChannel:
        matmulInt8(y, xq, xScales, w.q, w.scales, rows: t, inDim: w.cols, outDim: w.rows, pool: pool)
    case .perGroup(let g):
        matmulInt8Grouped(y, xq, xScales, w.q, w.scales, rows: t, inDim: w.cols, outDim: w.rows, groupSize: g, pool: pool)
    }
}

/// Static activation quantization with one scale, as the runtime does for a stored activation
/// scale: q = clamp(round_half_even(x / s), ±127); scale 0 gives zeros.
public func quantizeRowsWithScale(_ out: UnsafeMutablePointer<Int8>, _ scales: UnsafeMutablePointer<Float>,
                                  _ x: UnsafePointer<Float>, rows t: Int, cols k: Int, scale: Float) {
    let inv: Float = scale > 0 ? 1 / scale : 0
    for r in 0..<t {
        scales[r] = scale
        for i in 0..<k {
            let v = (x[r * k + i] * inv).rounded(.toNearestOrEven)
            out[r * k + i] = Int8(max(-127, min(127, v)))
        }
    }
}
