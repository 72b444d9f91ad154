import COpenBLAS
import Foundation

// Forward kernels of the host FP32 model. Free functions, output first, sizes explicit.
// Dimension names as in LlamaConfig: T tokens, D width, E head width, F MLP width, V vocabulary.

/// out[T, N] = x[T, K] · w[N, K]ᵀ  (+ out when `accumulate`). The N output columns are split
/// across the engine's workers, each running single-threaded OpenBLAS on its slice of `w`.
func matmulForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                   rows t: Int, inDim k: Int, outDim n: Int, accumulate: Bool = false) {
    let beta: Float = accumulate ? 1 : 0
    let work = t * n * k
    let workers = work < 1 << 18 ? 1 : min(HostThreads.count, max(1, n / 32))
    parallelWorkers(workers) { worker in
        // Column slices in multiples of 16 so each slice starts on a cache line of `w` rows' outputs.
        let n0 = (n * worker / workers) & ~15, n1 = worker == workers - 1 ? n : (n * (worker + 1) / workers) & ~15
        guard n1 > n0 else { return }
        if t == 1 {
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(n1 - n0), Int32(k), 1, w + n0 * k, Int32(k), x, 1,
                        beta, out + n0, 1)
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(t), Int32(n1 - n0), Int32(k),
                        1, x, Int32(k), w + n0 * k, Int32(k), beta, out + n0, Int32(n))
        }
    }
}

/// out[t, :] = x[t, :] / sqrt(mean(x[t, :]²) + eps) ⊙ weight, for t in 0..<T.
func rmsNormForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                    rows t: Int, dim d: Int, epsilon: Float) {
    for r in 0..<t {
        let xr = x + r * d, or = out + r * d
        var ss: Float = 0
        for i in 0..<d { ss += xr[i] * xr[i] }
        let scale = 1 / (ss / Float(d) + epsilon).squareRoot()
        for i in 0..<d { or[i] = xr[i] * scale * weight[i] }
    }
}

/// Rotary position embedding in place on x[T, heads·E], rotating adjacent pairs (x[2i], x[2i+1])
/// by angle pos·θ_i — the pairing of GGUF-stored Llama Q/K weights. `cosSin` is (positions, E/2, 2).
func ropeForward(_ x: UnsafeMutablePointer<Float>, rows t: Int, heads: Int, headDim e: Int,
                 startPosition: Int, cosSin: UnsafePointer<Float>) {
    let half = e / 2
    for r in 0..<t {
        let table = cosSin + (startPosition + r) * e
        for h in 0..<heads {
            let v = x + r * heads * e + h * e
            for i in 0..<half {
                let c = table[2 * i], s = table[2 * i + 1]
                let a = v[2 * i], b = v[2 * i + 1]
                v[2 * i] = a * c - b * s
                v[2 * i + 1] = a * s + b * c
            }
        }
    }
}

/// The (positions, E/2, 2) cos/sin table for RoPE with base θ: angle of pair i at position p is
/// p · base^(−2i/E). Shared by the host model and the training engine.
public func ropeTable(positions: Int, headDim e: Int, base: Float) -> FloatBuffer {
    let table = FloatBuffer(count: positions * e)
    for p in 0..<positions {
        for i in 0..<e / 2 {
            let theta = Double(p) * pow(Double(base), -2 * Double(i) / Double(e))
            table[p * e + 2 * i] = Float(cos(theta))
            table[p * e + 2 * i + 1] = Float(sin(theta))
        }
    }
    return table
}

/// gate[i] = silu(gate[i]) · up[i]  (SwiGLU), in place on `gate`.
func swigluForward(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count n: Int) {
    for i in 0..<n {
        let g = gate[i]
        gate[i] = g / (1 + expf(-g)) * up[i]
    }
}

/// Softmax in place over the first `valid` entries of a row; entries past `valid` become 0.
/// Shared by the host model and the training engine.
@inline(__always)
public func softmaxRowForward(_ row: UnsafeMutablePointer<Float>, valid: Int, width: Int) {
    var maxValue = -Float.infinity
    for j in 0..<valid { maxValue = max(maxValue, row[j]) }
    var sum: Float = 0
    for j in 0..<valid {
        let e = expf(row[j] - maxValue)
        row[j] = e
        sum += e
    }
    let inv = 1 / sum
    for j in 0..<valid { row[j] *= inv }
    for j in valid..<width { row[j] = 0 }
}

/// log p(target | row) for one row of logits: logit[target] − logsumexp(logits).
func logProbability(_ logits: UnsafePointer<Float>, count v: Int, target: Int) -> Double {
    var maxValue = -Float.infinity
    for j in 0..<v { maxValue = max(maxValue, logits[j]) }
    var sum: Double = 0
    for j in 0..<v { sum += Double(expf(logits[j] - maxValue)) }
    return Double(logits[target] - maxValue) - log(sum)
}
