import CRetortShim

// Per-token (per-row) symmetric int8 quantization of activations, the W8A8 input side.
//   x      [rows][cols] f32, finite
//   out    [rows][cols] int8 in [-127, 127]
//   scales [rows]       absmax / 127
// q = roundHalfToEven(x · (127 / absmax)), clamped to ±127; x ≈ q · scale with |error| ≤ scale/2
// (plus float rounding of the product). Rows whose absmax is below `quantizeMinAbsMax` (all-zero
// rows included) get scale 0 and all-zero values, never NaN. Every path computes exactly this.
// Inputs should be finite; a NaN element does not trap (it quantizes to -127 on every path).

/// Rows with a smaller absmax quantize to zeros with scale 0 (127 / absmax would overflow).
public let quantizeMinAbsMax: Float = 1e-30

/// Quantizes `rows` rows of `cols` floats to int8 with one scale per row.
public func quantizeRowsInt8(_ out: UnsafeMutablePointer<Int8>, _ scales: UnsafeMutablePointer<Float>,
                             _ x: UnsafePointer<Float>, rows: Int, cols: Int) {
    precondition(rows >= 0 && cols >= 0, "quantizeRowsInt8: negative size")
    #if arch(x86_64)
    if Kernels.active == .avx2 {
        retort_quantize_rows_i8_avx2(out, scales, x, Int64(rows), Int64(cols))
        return
    }
    #endif
    // Other paths: the scalar loop is already cheap next to the matmul that follows (O(T·K) vs
    // O(T·K·N)), and on arm64 `rounded(.toNearestOrEven)` is a single instruction.
    quantizeRowsInt8Reference(out, scales, x, rows: rows, cols: cols)
}

/// Scalar reference for `quantizeRowsInt8`.
public func quantizeRowsInt8Reference(_ out: UnsafeMutablePointer<Int8>, _ scales: UnsafeMutablePointer<Float>,
                                      _ x: UnsafePointer<Float>, rows: Int, cols: Int) {
    for r in 0..<rows {
        let xr = x + r * cols, qr = out + r * cols
        var absMax: Float = 0
        for i in 0..<cols {
            let a = abs(xr[i])
            if a > absMax { absMax = a }
        }
        guard absMax >= quantizeMinAbsMax else {
            scales[r] = 0
            qr.update(repeating: 0, count: cols)
            continue
        }
        scales[r] = absMax / 127
        let inverse = 127 / absMax
        for i in 0..<cols {
            let q = (xr[i] * inverse).rounded(.toNearestOrEven)
            // Written so a NaN lands on -127 (as AVX2's cvtps → INT_MIN → clamp does) instead of trapping.
            qr[i] = q >= 127 ? 127 : (q > -127 ? Int8(q) : -127)
        }
    }
}
