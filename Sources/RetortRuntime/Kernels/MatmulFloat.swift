import CRetortShim

// Float matmuls, y = x·wᵀ (no BLAS on the device).
//   x [T][K] f32;  w [N][K] f32 or f16 bits (IEEE binary16, see halfToFloat);  y [T][N] f32
// Paths sum in different orders (SIMD lanes, FMA), so they agree with the reference within float
// rounding, not bit for bit. avx2: C micro-kernels (FMA; prefill 4 rows × 3 columns, decode a
// GEMV reading one weight row after another); every other path: portable Swift SIMD (on
// arm64 that compiles to NEON).

/// Column ranges for the AVX2 kernels: whole prefill tiles (3 columns).
private let avx2ColumnAlign = 12

/// f32 matmul.
public func matmulF32(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                      rows t: Int, inDim k: Int, outDim n: Int, pool: ThreadPool?) {
    precondition(t >= 0 && k >= 0 && n >= 0, "matmulF32: negative size")
    switch Kernels.active {
    case .reference:
        matmulF32Reference(y, x, w, rows: t, inDim: k, outDim: n)
    case .avx2:
        #if arch(x86_64)
        forEachColumnRange(n, work: t * k * n, align: avx2ColumnAlign, pool: pool) { n0, n1 in
            retort_gemm_f32_avx2(y, Int64(n), x, w, Int64(t), Int64(k), Int64(n0), Int64(n1))
        }
        #else
        preconditionFailure("matmulF32: avx2 path on a non-x86 build")
        #endif
    case .portable, .neon, .neonDot:
        forEachColumnRange(n, work: t * k * n, align: 4, pool: pool) { n0, n1 in
            matmulFloatPortable(y, x, t: t, k: k, n: n, n0: n0, n1: n1) { c, i in
                UnsafeRawPointer(w + c * k + i).loadUnaligned(as: SIMD8<Float>.self)
            } scalar: { c, i in w[c * k + i] }
        }
    }
}

/// Scalar reference for `matmulF32` (sums in order of k).
public func matmulF32Reference(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                               rows t: Int, inDim k: Int, outDim n: Int) {
    for r in 0..<t {
        for c in 0..<n {
            var sum: Float = 0
            for i in 0..<k { sum += x[r * k + i] * w[c * k + i] }
            y[r * n + c] = sum
        }
    }
}

/// f16 weights, f32 activations and outputs.
public func matmulF16(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<UInt16>,
                      rows t: Int, inDim k: Int, outDim n: Int, pool: ThreadPool?) {
    precondition(t >= 0 && k >= 0 && n >= 0, "matmulF16: negative size")
    switch Kernels.active {
    case .reference:
        matmulF16Reference(y, x, w, rows: t, inDim: k, outDim: n)
    case .avx2:
        #if arch(x86_64)
        forEachColumnRange(n, work: t * k * n, align: avx2ColumnAlign, pool: pool) { n0, n1 in
            retort_gemm_f16_avx2(y, Int64(n), x, w, Int64(t), Int64(k), Int64(n0), Int64(n1))
        }
        #else
        preconditionFailure("matmulF16: avx2 path on a non-x86 build")
        #endif
    case .portable, .neon, .neonDot:
        forEachColumnRange(n, work: t * k * n, align: 4, pool: pool) { n0, n1 in
            matmulFloatPortable(y, x, t: t, k: k, n: n, n0: n0, n1: n1) { c, i in
                let p = w + c * k + i
                return SIMD8(halfToFloat(p[0]), halfToFloat(p[1]), halfToFloat(p[2]), halfToFloat(p[3]),
                             halfToFloat(p[4]), halfToFloat(p[5]), halfToFloat(p[6]), halfToFloat(p[7]))
            } scalar: { c, i in halfToFloat(w[c * k + i]) }
        }
    }
}

/// Scalar reference for `matmulF16`.
public func matmulF16Reference(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<UInt16>,
                               rows t: Int, inDim k: Int, outDim n: Int) {
    for r in 0..<t {
        for c in 0..<n {
            var sum: Float = 0
            for i in 0..<k { sum += x[r * k + i] * halfToFloat(w[c * k + i]) }
            y[r * n + c] = sum
        }
    }
}

// MARK: - Portable (Swift SIMD)

/// Columns `n0..<n1`: one activation row against four weight rows per pass, 8-lane accumulators;
/// decode (T = 1) reads one weight row after another instead (a single forward stream, as the
/// AVX2 GEMV). `load(c, i)` returns w[c][i..<i+8] as floats, `scalar(c, i)` returns w[c][i].
@inline(__always)
private func matmulFloatPortable(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                                 t: Int, k: Int, n: Int, n0: Int, n1: Int,
                                 load: (Int, Int) -> SIMD8<Float>, scalar: (Int, Int) -> Float) {
    if t == 1 {
        for c in n0..<n1 {
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var i = 0
            while i + 32 <= k {
                a0 += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) * load(c, i)
                a1 += UnsafeRawPointer(x + i + 8).loadUnaligned(as: SIMD8<Float>.self) * load(c, i + 8)
                a2 += UnsafeRawPointer(x + i + 16).loadUnaligned(as: SIMD8<Float>.self) * load(c, i + 16)
                a3 += UnsafeRawPointer(x + i + 24).loadUnaligned(as: SIMD8<Float>.self) * load(c, i + 24)
                i += 32
            }
            while i + 8 <= k {
                a0 += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) * load(c, i)
                i += 8
            }
            var s = ((a0 + a1) + (a2 + a3)).sum()
            while i < k {
                s += x[i] * scalar(c, i)
                i += 1
            }
            y[c] = s
        }
        return
    }
    var c = n0
    while c < n1 {
        let cols = min(4, n1 - c)
        for r in 0..<t {
            let xr = x + r * k
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var i = 0
            if cols == 4 {
                while i + 8 <= k {
                    let xv = UnsafeRawPointer(xr + i).loadUnaligned(as: SIMD8<Float>.self)
                    a0 += xv * load(c, i)
                    a1 += xv * load(c + 1, i)
                    a2 += xv * load(c + 2, i)
                    a3 += xv * load(c + 3, i)
                    i += 8
                }
            }
            var s = SIMD4<Float>(a0.sum(), a1.sum(), a2.sum(), a3.sum())
            for j in 0..<cols {
                for ii in i..<k { s[j] += xr[ii] * scalar(c + j, ii) }
                y[r * n + c + j] = s[j]
            }
        }
        c += cols
    }
}
