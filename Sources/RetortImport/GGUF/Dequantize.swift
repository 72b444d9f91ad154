import RetortRuntime
/// Decodes `count` values of `type` from `src` into `dst` — the kernel behind `GGUFFile.dequantize`.
///
/// `count` must be a multiple of `type.blockSize` and `src` must hold at least
/// `type.byteCount(elements: count)` bytes; both are checked. Block layouts and formulas follow
/// ggml (`ggml-common.h`, `dequantize_row_*` in `ggml-quants.c`); each kernel is a plain loop over
/// blocks that allocates nothing.
public func dequantize(
    _ type: GGMLType, from src: UnsafeRawBufferPointer, count: Int, into dst: UnsafeMutablePointer<Float>
) throws(GGUFError) {
    func failure(_ kind: GGUFError.Kind) -> GGUFError {
        GGUFError(file: "<dequantize>", field: type.name, kind: kind)
    }
    guard type.canDequantize else { throw failure(.unsupportedDequantization(type)) }
    guard count >= 0, count % type.blockSize == 0 else {
        throw failure(.invalid("count \(count) is not a multiple of the block size \(type.blockSize)"))
    }
    guard let needed = type.byteCount(elements: count) else { throw failure(.overflow) }
    guard src.count >= needed else {
        throw failure(.outOfRange("source holds \(src.count) bytes, \(count) values need \(needed)"))
    }
    dequantizeBlocks(type, from: src, count: count, into: dst)
}

/// `dequantize` without the checks: the caller guarantees `type.canDequantize`, whole blocks and
/// enough source bytes.
func dequantizeBlocks(_ type: GGMLType, from src: UnsafeRawBufferPointer, count: Int, into y: UnsafeMutablePointer<Float>) {
    guard count > 0, let x = src.baseAddress else { return }
    let blocks = count / type.blockSize
    switch type {
    case .f32: dequantizeF32(y, x, count: count)
    case .f16: dequantizeF16(y, x, count: count)
    case .bf16: dequantizeBF16(y, x, count: count)
    case .q4_0: dequantizeQ4_0(y, x, blocks: blocks)
    case .q4_1: dequantizeQ4_1(y, x, blocks: blocks)
    case .q5_0: dequantizeQ5_0(y, x, blocks: blocks)
    case .q5_1: dequantizeQ5_1(y, x, blocks: blocks)
    case .q8_0: dequantizeQ8_0(y, x, blocks: blocks)
    case .q2_K: dequantizeQ2_K(y, x, blocks: blocks)
    case .q3_K: dequantizeQ3_K(y, x, blocks: blocks)
    case .q4_K: dequantizeQ4_K(y, x, blocks: blocks)
    case .q5_K: dequantizeQ5_K(y, x, blocks: blocks)
    case .q6_K: dequantizeQ6_K(y, x, blocks: blocks)
    case .q8_K: dequantizeQ8_K(y, x, blocks: blocks)
    default: preconditionFailure("no dequantization kernel for \(type.name)")
    }
}

extension UnsafeRawPointer {
    @inline(__always) func byte(_ offset: Int) -> UInt8 { load(fromByteOffset: offset, as: UInt8.self) }
    @inline(__always) func signedByte(_ offset: Int) -> Int8 { load(fromByteOffset: offset, as: Int8.self) }
    @inline(__always) func u16(_ offset: Int) -> UInt16 {
        UInt16(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
    @inline(__always) func u32(_ offset: Int) -> UInt32 {
        UInt32(littleEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
    /// An fp16 (ggml_half) field.
    @inline(__always) func half(_ offset: Int) -> Float { halfToFloat(u16(offset)) }
}

// MARK: - Scalar types

func dequantizeF32(_ y: UnsafeMutablePointer<Float>, _ x: UnsafeRawPointer, count: Int) {
    for i in 0 ..< count { y[i] = Float(bitPattern: x.u32(4 * i)) }
}

func dequantizeF16(_ y: UnsafeMutablePointer<Float>, _ x: UnsafeRawPointer, count: Int) {
    for i in 0 ..< count { y[i] = x.half(2 * i) }
}

func dequantizeBF16(_ y: UnsafeMutablePointer<Float>, _ x: UnsafeRawPointer, count: Int) {
    for i in 0 ..< count { y[i] = bfloat16ToFloat(x.u16(2 * i)) }
}

// MARK: - 32-element blocks
//
// Element j of a block uses the low nibble of qs[j] for j < 16 and the high nibble of qs[j - 16]
// otherwise; q5 types take their fifth bit from bit j of the u32 qh.

/// block_q4_0 (18 bytes): d: f16, qs: [16] nibbles. y = (q - 8)·d
func dequantizeQ4_0(_ y: UnsafeMutablePointer<Float>, _ x: UnsafeRawPointer, blocks: Int) {
    let blockBytes = GGMLType.q4_0.typeSize  // 18
    for b in 0 ..< blocks {
        let block = x + b * blockBytes, out = y + b * 32
        let d = block.half(0)
        for j in 0 ..< 16 {
            let q = block.byte(2 + j)
            out[j] = Float(Int32(q & 0x0F) - 8) * d
            out[j + 16] = Float(Int32(q >> 4) - 8) * d
        }
    }
}

/// block_q4_1 (20 bytes): d: f16, m: f16, qs: [16] nibbles. y = q·d + m
func dequantizeQ4_1(_ y: UnsafeMutablePointer<Float>, _ x: UnsafeRawPointer, blocks: Int) {
    let blockBytes = GGMLType.q4_1.typeSize  // 20
    for b in 0 ..< blocks {
        let block = x + b * blockBytes, out = y + b * 32
        let d = block.half(0), m = block.half(2)
        for j in 0 ..< 16 {
            let q = block.byte(4 + j)
            out[j] = Float(q & 0x0F) * d + m
            out[j + 16] = Float(q >> 4) * d + m
        }
    }
}

/// block_q5_0 (22 bytes): d: f16, qh: u32, qs: [16] nibbles. y = (q - 16)·d
func dequantizeQ5_0(_ y: UnsafeMutablePointer<Float>, _ x: UnsafeRawPointer, blocks: Int) {
    let blockBytes = GGMLType.q5_0.typeSize  // 22
    for b in 0 ..< blocks {
        let block = x + b * blockBytes, out = y + b * 32
        let d = block.half(0)
        let qh = block.u32(2)
        for j in 0 ..< 16 {
            let q = block.byte(6 + j)
            let high0 = UInt8(truncatingIfNeeded: (qh >> j) << 4) & 0x10
            let high1 = UInt8(truncatingIfNeeded: qh >> (j + 12)) & 0x10
            out[j] = Float(Int32(q & 0x0F | high0) - 16) * d
            out[j + 16] = Float(Int32(q >> 4 | high1) - 16) * d
        }
    }
}

/// block_q5_1 (24 bytes): d: f16, m: f16, qh: u32, qs: [16] nibbles. y = q·d + m
func dequantizeQ5_1(_ y: UnsafeMutablePointer<Float>, _ x: UnsafeRawPointer, blocks: Int) {
    let blockBytes = GGMLType.q5_1.typeSize  // 24
    for b in 0 ..< blocks {
        let block = x + b * blockBytes, out = y + b * 32
        let d = block.half(0), m = block.half(2)
        let qh = block.u32(4)
        for j in 0 ..< 16 {
            let q = block.byte(8 + j)
            let high0 = UInt8(truncatingIfNeeded: (qh >> j) << 4) & 0x10
            let high1 = UInt8(truncatingIfNeeded: qh >> (j + 12)) & 0x10
            out[j] = Float(q & 0x0F | high0) * d + m
            out[j + 16] = Float(q >> 4 | high1) * d + m
        }
    }
}

/// block_q8_0 (34 bytes): d: f16, qs: [32] i8. y = q·d
func dequantizeQ8_0(_ y: UnsafeMutablePointer<Float>, _ x: UnsafeRawPointer, blocks: Int) {
    let blockBytes = GGMLType.q8_0.typeSize  // 34
    for b in 0 ..< blocks {
        let block = x + b * blockBytes, out = y + b * 32
        let d = block.half(0)
        for j in 0 ..< 32 { out[j] = Float(block.signedByte(2 + j)) * d }
    }
}
