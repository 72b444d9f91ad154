// IEEE 754 binary16 and bfloat16 conversions, written out in integer arithmetic so they behave
// the same on every platform (Swift's `Float16` is unavailable on x86_64 macOS).

/// binary16 bits → Float (exact: every half value is representable).
@inline(__always)
public func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let magnitude = UInt32(h & 0x7FFF)
    if magnitude >= 0x7C00 {                      // inf or NaN: keep the payload
        return Float(bitPattern: sign | 0x7F80_0000 | (magnitude & 0x3FF) << 13)
    }
    if magnitude >= 0x0400 {                      // normal: rebias exponent 15 → 127
        return Float(bitPattern: sign | ((magnitude << 13) + 0x3800_0000))
    }
    let value = Float(magnitude) * 0x1p-24          // zero or subnormal: mantissa × 2^-24
    return sign == 0 ? value : -value
}

/// Float → binary16 bits, round to nearest even (what ggml's GGML_FP32_TO_FP16 does).
/// Values beyond the half range become ±inf; NaN stays NaN.
@inline(__always)
public func floatToHalf(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
    let magnitude = bits & 0x7FFF_FFFF
    if magnitude > 0x7F80_0000 { return sign | 0x7E00 | UInt16(truncatingIfNeeded: (magnitude >> 13) & 0x1FF) }
    if magnitude >= 0x4780_0000 { return sign | 0x7C00 }          // ≥ 65536 (and inf) → inf
    if magnitude < 0x3880_0000 {                                   // < 2^-14: half subnormal or zero
        // Scaling by 2^24 is exact; rounding to an integer is the subnormal mantissa. 1024 rounds
        // up into the smallest normal, whose encoding is exactly 0x0400.
        let scaled = (Float(bitPattern: magnitude) * 0x1p24).rounded(.toNearestOrEven)
        return sign | UInt16(scaled)
    }
    var h = ((magnitude >> 13) - 0x1_C000)                         // rebias exponent 127 → 15
    let rest = magnitude & 0x1FFF
    if rest > 0x1000 || (rest == 0x1000 && h & 1 == 1) { h += 1 }  // may carry into inf: correct
    return sign | UInt16(truncatingIfNeeded: h)
}

/// bfloat16 bits → Float (exact).
@inline(__always)
public func bfloat16ToFloat(_ b: UInt16) -> Float {
    Float(bitPattern: UInt32(b) << 16)
}

/// Float → bfloat16 bits, round to nearest even; NaN is kept quiet (ggml_compute_fp32_to_bf16).
@inline(__always)
public func floatToBFloat16(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    if bits & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(truncatingIfNeeded: bits >> 16) | 0x40 }
    let rounded = bits &+ (0x7FFF + ((bits >> 16) & 1))
    return UInt16(truncatingIfNeeded: rounded >> 16)
}
