import RetortModel

// RMS normalisation. N = B·T rows, D width.

/// out[r, i] = x[r, i] · rstd[r] · weight[i], with rstd[r] = 1 / sqrt(mean(x[r, :]²) + ε).
/// - out: (N, D); rstd: (N) saved for the backward pass; x: (N, D); weight: (D).
public func rmsNormForward(_ out: UnsafeMutablePointer<Float>, _ rstd: UnsafeMutablePointer<Float>,
                           _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                           rows n: Int, dim d: Int, epsilon: Float) {
    parallelChunks(n, minChunk: 16) { rows in
        for r in rows {
            let xr = x + r * d, or = out + r * d
            var ss: Float = 0
            for i in 0..<d { ss += xr[i] * xr[i] }
            let s = 1 / (ss / Float(d) + epsilon).squareRoot()
            rstd[r] = s
            for i in 0..<d { or[i] = xr[i] * s * weight[i] }
        }
    }
}

/// With g = dOut ⊙ weight and s = rstd[r] (∂s/∂x_j = −s³·x_j / D):
///   dx[r, j]  += s · (g_j − x_j · s² · (Σ_i g_i x_i) / D)
///   dWeight[i] += Σ_r dOut[r, i] · x[r, i] · s
/// dx is computed in parallel over rows, dWeight over columns (a reduction over rows).
/// - dx: (N, D); dWeight: (D); dOut: (N, D); x: (N, D) the forward input; weight: (D); rstd: (N).
public func rmsNormBackward(_ dx: UnsafeMutablePointer<Float>, _ dWeight: UnsafeMutablePointer<Float>,
                            _ dOut: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>,
                            _ rstd: UnsafePointer<Float>, rows n: Int, dim d: Int) {
    parallelChunks(n, minChunk: 16) { rows in
        for r in rows {
            let xr = x + r * d, gr = dOut + r * d, dxr = dx + r * d
            let s = rstd[r]
            var dot: Float = 0   // Σ_i g_i x_i
            for i in 0..<d { dot += gr[i] * weight[i] * xr[i] }
            let k = s * s * dot / Float(d)
            for i in 0..<d { dxr[i] += s * (gr[i] * weight[i] - xr[i] * k) }
        }
    }
    parallelChunks(d, minChunk: n >= 16 ? 32 : d) { cols in
        for r in 0..<n {
            let xr = x + r * d, gr = dOut + r * d
            let s = rstd[r]
            for i in cols { dWeight[i] += gr[i] * xr[i] * s }
        }
    }
}
