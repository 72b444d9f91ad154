import CRetortShim

// W8A8 matmul with one weight scale per group of G consecutive inputs (int8PerGroup).
//   xq [T][K] int8, xScales [T];  w [N][K] int8, wScales [N][K/G];  y [T][N] f32
// y[t][n] = (Σ_g Float(acc_g) · wScales[n][g]) · xScales[t], the float sum taken in group order
// starting from 0, acc_g = Σ_{k in group g} xq·w as Int32. G must divide K.
// Fast paths: an AVX2 micro-kernel when G is a multiple of 32 (exact group sums, the same float
// operations in the same order), else the portable SIMD dot per group; results are identical to
// the reference on every path.

/// Int8 matmul with per-group weight scales.
public func matmulInt8Grouped(_ y: UnsafeMutablePointer<Float>, _ xq: UnsafePointer<Int8>, _ xScales: UnsafePointer<Float>,
                              _ w: UnsafePointer<Int8>, _ wScales: UnsafePointer<Float>,
                              rows t: Int, inDim k: Int, outDim n: Int, groupSize g: Int, pool: ThreadPool?) {
    precondition(t >= 0 && k >= 0 && n >= 0, "matmulInt8Grouped: negative size")
    precondition(g > 0 && k % g == 0, "matmulInt8Grouped: group size must divide inDim")
    if Kernels.active == .reference {
        matmulInt8GroupedReference(y, xq, xScales, w, wScales, rows: t, inDim: k, outDim: n, groupSize: g)
        return
    }
    #if arch(x86_64)
    if Kernels.active == .avx2 && g % 32 == 0 {
        forEachColumnRange(n, work: t * k * n, align: 4, pool: pool) { n0, n1 in
            retort_gemm_i8g_avx2(y, Int64(n), xq, xScales, w, wScales, Int64(t), Int64(k), Int64(g), Int64(n0), Int64(n1))
        }
        return
    }
    #endif
    let groups = k / g
    forEachColumnRange(n, work: t * k * n, align: 4, pool: pool) { n0, n1 in
        for c in n0..<n1 {
            let wc = w + c * k, sc = wScales + c * groups
            for r in 0..<t {
                let xr = xq + r * k
                var sum: Float = 0
                for j in 0..<groups { sum += Float(dotInt8Portable(xr + j * g, wc + j * g, g)) * sc[j] }
                y[r * n + c] = sum * xScales[r]
            }
        }
    }
}

/// Scalar reference for `matmulInt8Grouped`.
public func matmulInt8GroupedReference(_ y: UnsafeMutablePointer<Float>, _ xq: UnsafePointer<Int8>, _ xScales: UnsafePointer<Float>,
                                       _ w: UnsafePointer<Int8>, _ wScales: UnsafePointer<Float>,
                                       rows t: Int, inDim k: Int, outDim n: Int, groupSize g: Int) {
    let groups = k / g
    for r in 0..<t {
        for c in 0..<n {
            var sum: Float = 0
            for j in 0..<groups {
                sum += Float(dotInt8Reference(xq + r * k + j * g, w + c * k + j * g, g)) * wScales[c * groups + j]
            }
            y[r * n + c] = sum * xScales[r]
        }
    }
}
