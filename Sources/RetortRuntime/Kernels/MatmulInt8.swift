import CRetortShim

// W8A8 matmul, y = x·wᵀ, with int32 accumulation.
//   T = rows (tokens; T = 1 is the decode GEMV), K = inDim, N = outDim
//   xq [T][K] int8, xScales [T]   (from quantizeRowsInt8)
//   w  [N][K] int8, wScales [N]   (int8PerChannel) or [N][K/G] (int8PerGroup)
//   y  [T][N] f32
// Values must lie in [-127, 127]. Per channel: y[t][n] = (Float(acc) · xScales[t]) · wScales[n],
// acc = Σ_k xq[t][k]·w[n][k] as Int32, in exactly this order on every path, so all paths agree
// bit for bit. K may be anything (the SIMD paths finish K % 32 with scalar code).

/// Int8 matmul with per-output-channel weight scales.
public func matmulInt8(_ y: UnsafeMutablePointer<Float>, _ xq: UnsafePointer<Int8>, _ xScales: UnsafePointer<Float>,
                       _ w: UnsafePointer<Int8>, _ wScales: UnsafePointer<Float>,
                       rows t: Int, inDim k: Int, outDim n: Int, pool: ThreadPool?) {
    int8Matmul(y, nil, xq, xScales, w, wScales, t: t, k: k, n: n, pool: pool)
}

/// The raw Int32 sums `acc[t][n] = Σ_k xq[t][k]·w[n][k]` of `matmulInt8` (same kernels; for exact
/// tests and for callers that apply their own scales).
public func matmulInt8Accumulate(_ acc: UnsafeMutablePointer<Int32>, _ xq: UnsafePointer<Int8>, _ w: UnsafePointer<Int8>,
                                 rows t: Int, inDim k: Int, outDim n: Int, pool: ThreadPool?) {
    int8Matmul(nil, acc, xq, nil, w, nil, t: t, k: k, n: n, pool: pool)
}

/// Scalar reference for `matmulInt8`.
public func matmulInt8Reference(_ y: UnsafeMutablePointer<Float>, _ xq: UnsafePointer<Int8>, _ xScales: UnsafePointer<Float>,
                                _ w: UnsafePointer<Int8>, _ wScales: UnsafePointer<Float>,
                                rows t: Int, inDim k: Int, outDim n: Int) {
    for r in 0..<t {
        for c in 0..<n {
            let acc = dotInt8Reference(xq + r * k, w + c * k, k)
            y[r * n + c] = Float(acc) * xScales[r] * wScales[c]
        }
    }
}

/// Scalar reference for `matmulInt8Accumulate`.
public func matmulInt8AccumulateReference(_ acc: UnsafeMutablePointer<Int32>, _ xq: UnsafePointer<Int8>,
                                          _ w: UnsafePointer<Int8>, rows t: Int, inDim k: Int, outDim n: Int) {
    for r in 0..<t {
        for c in 0..<n { acc[r * n + c] = dotInt8Reference(xq + r * k, w + c * k, k) }
    }
}

/// Σ a[i]·b[i] in Int32 (the reference dot product).
public func dotInt8Reference(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, _ count: Int) -> Int32 {
    var sum: Int32 = 0
    for i in 0..<count { sum &+= Int32(a[i]) &* Int32(b[i]) }
    return sum
}

// MARK: - Dispatch

/// Exactly one of `y` (scaled floats) or `acc` (raw sums) is non-nil.
private func int8Matmul(_ y: UnsafeMutablePointer<Float>?, _ acc: UnsafeMutablePointer<Int32>?,
                        _ xq: UnsafePointer<Int8>, _ xs: UnsafePointer<Float>?,
                        _ w: UnsafePointer<Int8>, _ ws: UnsafePointer<Float>?,
                        t: Int, k: Int, n: Int, pool: ThreadPool?) {
    precondition(t >= 0 && k >= 0 && n >= 0, "matmulInt8: negative size")
    let work = t * k * n
    switch Kernels.active {
    case .reference:
        if let y, let xs, let ws {
            matmulInt8Reference(y, xq, xs, w, ws, rows: t, inDim: k, outDim: n)
        } else if let acc {
            matmulInt8AccumulateReference(acc, xq, w, rows: t, inDim: k, outDim: n)
        }
    case .portable:
        forEachColumnRange(n, work: work, align: 4, pool: pool) { n0, n1 in
            matmulInt8Portable(y, acc, n, xq, xs, w, ws, t: t, k: k, n0: n0, n1: n1)
        }
    case .avx2:
        #if arch(x86_64)
        forEachColumnRange(n, work: work, align: 4, pool: pool) { n0, n1 in
            retort_gemm_i8_avx2(y, acc, Int64(n), xq, xs, w, ws, Int64(t), Int64(k), Int64(n0), Int64(n1))
        }
        #else
        preconditionFailure("matmulInt8: avx2 path on a non-x86 build")
        #endif
    case .neonDot:
        #if arch(arm64)
        forEachColumnRange(n, work: work, align: 4, pool: pool) { n0, n1 in
            retort_gemm_i8_neon_dot(y, acc, Int64(n), xq, xs, w, ws, Int64(t), Int64(k), Int64(n0), Int64(n1))
        }
        #else
        preconditionFailure("matmulInt8: NEON path on a non-arm64 build")
        #endif
    case .neon:
        #if arch(arm64)
        forEachColumnRange(n, work: work, align: 4, pool: pool) { n0, n1 in
            retort_gemm_i8_neon(y, acc, Int64(n), xq, xs, w, ws, Int64(t), Int64(k), Int64(n0), Int64(n1))
        }
        #else
        preconditionFailure("matmulInt8: NEON path on a non-arm64 build")
        #endif
    }
}

// MARK: - Portable (Swift SIMD)

@inline(__always)
private func widen16(_ p: UnsafePointer<Int8>) -> SIMD16<Int16> {
    SIMD16<Int16>(truncatingIfNeeded: UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Int8>.self))
}

/// 16 products in Int16 (|x·w| ≤ 127² fits; a 16-bit multiply is one instruction even on baseline
/// x86-64, a 32-bit one is not), widened to Int32 for the sum.
@inline(__always)
private func products(_ a: SIMD16<Int16>, _ b: SIMD16<Int16>) -> SIMD16<Int32> {
    SIMD16<Int32>(truncatingIfNeeded: a &* b)
}

/// Σ a[i]·b[i] with 16-lane SIMD (no even/odd shuffles: Int16 products widened into Int32 sums).
@inline(__always)
func dotInt8Portable(_ a: UnsafePointer<Int8>, _ b: UnsafePointer<Int8>, _ count: Int) -> Int32 {
    var acc = SIMD16<Int32>()
    var i = 0
    while i + 16 <= count {
        acc &+= products(widen16(a + i), widen16(b + i))
        i += 16
    }
    var sum = acc.wrappedSum()
    while i < count {
        sum &+= Int32(a[i]) &* Int32(b[i])
        i += 1
    }
    return sum
}

/// One activation row against four weight rows (the row's loads are shared).
@inline(__always)
private func dot4Int8Portable(_ x: UnsafePointer<Int8>, _ w: UnsafePointer<Int8>, _ k: Int) -> SIMD4<Int32> {
    var a0 = SIMD16<Int32>(), a1 = SIMD16<Int32>(), a2 = SIMD16<Int32>(), a3 = SIMD16<Int32>()
    var i = 0
    while i + 16 <= k {
        let xv = widen16(x + i)
        a0 &+= products(xv, widen16(w + i))
        a1 &+= products(xv, widen16(w + k + i))
        a2 &+= products(xv, widen16(w + 2 * k + i))
        a3 &+= products(xv, widen16(w + 3 * k + i))
        i += 16
    }
    var s = SIMD4<Int32>(a0.wrappedSum(), a1.wrappedSum(), a2.wrappedSum(), a3.wrappedSum())
    while i < k {
        let xi = Int32(x[i])
        s &+= SIMD4(xi &* Int32(w[i]), xi &* Int32(w[k + i]), xi &* Int32(w[2 * k + i]), xi &* Int32(w[3 * k + i]))
        i += 1
    }
    return s
}

/// Columns `n0..<n1` of the int8 matmul; row stride of `y`/`acc` is `ldy`.
private func matmulInt8Portable(_ y: UnsafeMutablePointer<Float>?, _ acc: UnsafeMutablePointer<Int32>?, _ ldy: Int,
                                _ xq: UnsafePointer<Int8>, _ xs: UnsafePointer<Float>?,
                                _ w: UnsafePointer<Int8>, _ ws: UnsafePointer<Float>?,
                                t: Int, k: Int, n0: Int, n1: Int) {
    @inline(__always) func store(_ r: Int, _ c: Int, _ sum: Int32) {
        if let y { y[r * ldy + c] = Float(sum) * xs.unsafelyUnwrapped[r] * ws.unsafelyUnwrapped[c] }
        else { acc.unsafelyUnwrapped[r * ldy + c] = sum }
    }
    var c = n0
    while c + 4 <= n1 {
        for r in 0..<t {
            let s = dot4Int8Portable(xq + r * k, w + c * k, k)
            for j in 0..<4 { store(r, c + j, s[j]) }
        }
        c += 4
    }
    while c < n1 {
        for r in 0..<t { store(r, c, dotInt8Portable(xq + r * k, w + c * k, k)) }
        c += 1
    }
}
