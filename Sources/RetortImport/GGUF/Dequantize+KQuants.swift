import RetortRuntime
// Dequantization of the k-quants: 256-element super-blocks (QK_K) split into sub-blocks with their
// own quantized scales. Layouts from ggml-common.h, formulas from ggml-quants.c `dequantize_row_*`.
// y: output (256 per block), x: blocks, blocks: number of super-blocks.

/// The 6-bit scale and min of sub-block `j` (0..<8) of a q4_K / q5_K block, packed in 12 bytes:
/// bytes 0–3 hold scales 0–3 (low 6 bits) and the top 2 bits of scales 4–7; bytes 4–7 the same
/// for mins; bytes 8–11 the low 4 bits of scale (low nibble) and min (high nibble) 4–7.
@inline(__always)
func kQuantScaleMin(_ scales: UnsafeRawPointer, _ j: Int) -> (scale: UInt8, min: UInt8) {
    if j < 4 { return (scales.byte(j) & 63, scales.byte(j + 4) & 63) }
    let scale = (scales.byte(j + 4) & 0x0F) | ((scales.byte(j - 4) >> 6) << 4)
    let min = (scales.byte(j + 4) >> 4) | ((scales.byte(j) >> 6) << 4)
    return (scale, min)
}

/// block_q2_K (84 bytes): scales: [16] (scale low nibble, min high nibble), qs: [64] 2-bit,
/// d: f16, dmin: f16. 16 sub-blocks of 16; y = d·scale·q - dmin·min.
func dequantizeQ2_K(_ y: UnsafeMutablePointer<Float>, _ x: UnsafeRawPointer, blocks: Int) {
    let blockBytes = GGMLType.q2_K.typeSize  // 84
    for b in 0 ..< blocks {
        let block = x + b * blockBytes
        var out = y + b * 256
        let d = block.half(80), dmin = block.half(82)
        var subBlock = 0
        for half in 0 ..< 2 {
            let qs = 16 + 32 * half
            for shift in stride(from: 0, to: 8, by: 2) {
                for part in 0 ..< 2 {
                    let packed = block.byte(subBlock)
                    subBlock += 1
                    let scale = d * Float(packed & 0x0F), min = dmin * Float(packed >> 4)
                    for l in 0 ..< 16 {
                        out[l] = scale * Float((block.byte(qs + 16 * part + l) >> shift) & 3) - min
                    }
                    out += 16
                }
            }
        }
    }
}

/// block_q3_K (110 bytes): hmask: [32] high bits, qs: [64] low 2 bits, scales: [12] (16 × 6-bit),
/// d: f16. 16 sub-blocks of 16; y = d·(scale - 32)·(q - 4·(1 - highBit)).
func dequantizeQ3_K(_ y: UnsafeMutablePointer<Float>, _ x: UnsafeRawPointer, blocks: Int) {
    let blockBytes = GGMLType.q3_K.typeSize  // 110
    for b in 0 ..< blocks {
        let block = x + b * blockBytes
        var out = y + b * 256
        let d = block.half(108)
        let scales = block + 96
        var mask: UInt8 = 1
        var subBlock = 0
        for half in 0 ..< 2 {
            let qs = 32 + 32 * half
            for shift in stride(from: 0, to: 8, by: 2) {
                for part in 0 ..< 2 {
                    // Scale i: low 4 bits from byte i (i < 8) or the high nibble of byte i - 8;
                    // high 2 bits from byte 8 + i % 4 at bit 2·(i / 4).
                    let i = subBlock
                    subBlock += 1
                    let low = i < 8 ? scales.byte(i) & 0x0F : scales.byte(i - 8) >> 4
                    let high = (scales.byte(8 + i % 4) >> (2 * (i / 4))) & 3
                    let scale = d * Float(Int32(low | high << 4) - 32)
                    for l in 0 ..< 16 {
                        let index = 16 * part + l
                        let q = Int32((block.byte(qs + index) >> shift) & 3)
                        let offset: Int32 = block.byte(index) & mask != 0 ? 0 : 4
                        out[l] = scale * Float(q - offset)
                    }
                    out += 16
                }
                mask <<= 1
            }
        }
    }
}

/// block_q4_K (144 bytes): d: f16, dmin: f16, scales: [12] (8 × 6-bit scale and min), qs: [128]
/// nibbles. 8 sub-blocks of 32; each 64-element chunk reads 32 bytes, low nibbles then high.
func dequantizeQ4_K(_ y: UnsafeMutablePointer<Float>, _ x: UnsafeRawPointer, blocks: Int) {
    let blockBytes = GGMLType.q4_K.typeSize  // 144
    for b in 0 ..< blocks {
        let block = x + b * blockBytes, out = y + b * 256
        let d = block.half(0), dmin = block.half(2)
        for chunk in 0 ..< 4 {
            let (sc1, m1) = kQuantScaleMin(block + 4, 2 * chunk)
            let (sc2, m2) = kQuantScaleMin(block + 4, 2 * chunk + 1)
            let d1 = d * Float(sc1), min1 = dmin * Float(m1)
            let d2 = d * Float(sc2), min2 = dmin * Float(m2)
            let qs = 16 + 32 * chunk, o = out + 64 * chunk
            for l in 0 ..< 32 {
                let q = block.byte(qs + l)
                o[l] = d1 * Float(q & 0x0F) - min1
                o[l + 32] = d2 * Float(q >> 4) - min2
            }
        }
    }
}

/// block_q5_K (176 bytes): d: f16, dmin: f16, scales: [12], qh: [32] fifth bits, qs: [128] nibbles.
/// Like q4_K; element l of sub-block s gets its fifth bit from bit s of qh[l].
func dequantizeQ5_K(_ y: UnsafeMutablePointer<Float>, _ x: UnsafeRawPointer, blocks: Int) {
    let blockBytes = GGMLType.q5_K.typeSize  // 176
    for b in 0 ..< blocks {
        let block = x + b * blockBytes, out = y + b * 256
        let d = block.half(0), dmin = block.half(2)
        for chunk in 0 ..< 4 {
            let (sc1, m1) = kQuantScaleMin(block + 4, 2 * chunk)
            let (sc2, m2) = kQuantScaleMin(block + 4, 2 * chunk + 1)
            let d1 = d * Float(sc1), min1 = dmin * Float(m1)
            let d2 = d * Float(sc2), min2 = dmin * Float(m2)
            let bit1: UInt8 = 1 << (2 * chunk), bit2: UInt8 = 1 << (2 * chunk + 1)
            let qs = 48 + 32 * chunk, o = out + 64 * chunk
            for l in 0 ..< 32 {
                let q = block.byte(qs + l), high = block.byte(16 + l)
                o[l] = d1 * Float((q & 0x0F) + (high & bit1 != 0 ? 16 : 0)) - min1
                o[l + 32] = d2 * Float((q >> 4) + (high & bit2 != 0 ? 16 : 0)) - min2
            }
        }
    }
}

/// block_q6_K (210 bytes): ql: [128] low nibbles, qh: [64] high 2-bit pairs, scales: [16] i8, d: f16.
/// 16 sub-blocks of 16; y = d·scale·(q - 32). Each 128-element half uses 64 ql, 32 qh, 8 scales.
func dequantizeQ6_K(_ y: UnsafeMutablePointer<Float>, _ x: UnsafeRawPointer, blocks: Int) {
    let blockBytes = GGMLType.q6_K.typeSize  // 210
    for b in 0 ..< blocks {
        let block = x + b * blockBytes
        let d = block.half(208)
        for half in 0 ..< 2 {
            let ql = 64 * half, qh = 128 + 32 * half, sc = 192 + 8 * half
            let out = y + b * 256 + 128 * half
            for l in 0 ..< 32 {
                let s = sc + l / 16
                let low0 = block.byte(ql + l), low1 = block.byte(ql + l + 32), high = block.byte(qh + l)
                let q1 = Int32(low0 & 0x0F | (high & 3) << 4) - 32
                let q2 = Int32(low1 & 0x0F | ((high >> 2) & 3) << 4) - 32
                let q3 = Int32(low0 >> 4 | ((high >> 4) & 3) << 4) - 32
                let q4 = Int32(low1 >> 4 | ((high >> 6) & 3) << 4) - 32
                out[l] = d * Float(block.signedByte(s)) * Float(q1)
                out[l + 32] = d * Float(block.signedByte(s + 2)) * Float(q2)
                out[l + 64] = d * Float(block.signedByte(s + 4)) * Float(q3)
                out[l + 96] = d * Float(block.signedByte(s + 6)) * Float(q4)
            }
        }
    }
}

/// block_q8_K (292 bytes): d: f32, qs: [256] i8, bsums: [16] i16 (unused here). y = d·q
func dequantizeQ8_K(_ y: UnsafeMutablePointer<Float>, _ x: UnsafeRawPointer, blocks: Int) {
    let blockBytes = GGMLType.q8_K.typeSize  // 292
    for b in 0 ..< blocks {
        let block = x + b * blockBytes, out = y + b * 256
        let d = Float(bitPattern: block.u32(0))
        for j in 0 ..< 256 { out[j] = d * Float(block.signedByte(4 + j)) }
    }
}
