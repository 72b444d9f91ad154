import RetortRuntime
/// Encodes `count` floats as `type`, bit-compatible with ggml's reference quantizers
/// (`quantize_row_q8_0_ref`, `quantize_row_q4_0_ref`, `quantize_row_q4_1_ref`, `ggml_fp32_to_fp16_row`,
/// `ggml_fp32_to_bf16_row_ref`). Supported: f32, f16, bf16, q8_0, q4_0, q4_1.
///
/// `count` must be a multiple of `type.blockSize`. Block-quantized types reject non-finite input
/// (a NaN or inf has no meaningful block scale); f16/bf16 convert it like ggml does.
public func quantize(_ type: GGMLType, from src: UnsafePointer<Float>, count: Int) throws(GGUFError) -> [UInt8] {
    func failure(_ kind: GGUFError.Kind) -> GGUFError {
        GGUFError(file: "<quantize>", field: type.name, kind: kind)
    }
    guard type.canQuantize else { throw failure(.unsupportedQuantization(type)) }
    guard count >= 0, count % type.blockSize == 0 else {
        throw failure(.invalid("count \(count) is not a multiple of the block size \(type.blockSize)"))
    }
    guard let byteCount = type.byteCount(elements: count) else { throw failure(.overflow) }
    if type.blockSize > 1 {
        for i in 0 ..< count where !src[i].isFinite {
            throw failure(.invalid("value \(src[i]) at index \(i) is not finite"))
        }
    }
    var bytes = [UInt8](repeating: 0, count: byteCount)
    bytes.withUnsafeMutableBytes { out in
        guard let y = out.baseAddress else { return }
        let blocks = count / type.blockSize
        switch type {
        case .f32: quantizeF32(y, src, count: count)
        case .f16: quantizeF16(y, src, count: count)
        case .bf16: quantizeBF16(y, src, count: count)
        case .q8_0: quantizeQ8_0(y, src, blocks: blocks)
        case .q4_0: quantizeQ4_0(y, src, blocks: blocks)
        case .q4_1: quantizeQ4_1(y, src, blocks: blocks)
        default: preconditionFailure("no quantizer for \(type.name)")
        }
    }
    return bytes
}

extension GGMLType {
    /// Whether `quantize(_:from:count:)` can produce this type.
    public var canQuantize: Bool {
        switch self {
        case .f32, .f16, .bf16, .q8_0, .q4_0, .q4_1: true
        default: false
        }
    }
}

extension UnsafeMutableRawPointer {
    @inline(__always) func storeHalf(_ value: Float, at offset: Int) {
        storeBytes(of: floatToHalf(value).littleEndian, toByteOffset: offset, as: UInt16.self)
    }
}

func quantizeF32(_ y: UnsafeMutableRawPointer, _ x: UnsafePointer<Float>, count: Int) {
    for i in 0 ..< count { y.storeBytes(of: x[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
}

func quantizeF16(_ y: UnsafeMutableRawPointer, _ x: UnsafePointer<Float>, count: Int) {
    for i in 0 ..< count { y.storeHalf(x[i], at: 2 * i) }
}

func quantizeBF16(_ y: UnsafeMutableRawPointer, _ x: UnsafePointer<Float>, count: Int) {
    for i in 0 ..< count { y.storeBytes(of: floatToBFloat16(x[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
}

/// `x` truncated or rounded already; clamped to `range`, NaN (0 · inf from a subnormal block
/// scale) mapped to `nan`. ggml leaves these cases undefined; here they cannot trap.
@inline(__always)
private func clamped(_ x: Float, _ range: ClosedRange<Int>, nan: Int) -> Int {
    if x.isNaN { return nan }
    if x <= Float(range.lowerBound) { return range.lowerBound }
    if x >= Float(range.upperBound) { return range.upperBound }
    return Int(x)
}

/// block_q8_0: d = amax / 127, q = round(x / d) (half away from zero, like roundf).
func quantizeQ8_0(_ y: UnsafeMutableRawPointer, _ x: UnsafePointer<Float>, blocks: Int) {
    let blockBytes = GGMLType.q8_0.typeSize  // 34
    for b in 0 ..< blocks {
        let v = x + 32 * b, block = y + blockBytes * b
        var amax: Float = 0
        for j in 0 ..< 32 { amax = max(amax, abs(v[j])) }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        block.storeHalf(d, at: 0)
        for j in 0 ..< 32 {
            let q = clamped((v[j] * id).rounded(.toNearestOrAwayFromZero), -128 ... 127, nan: 0)
            block.storeBytes(of: Int8(q), toByteOffset: 2 + j, as: Int8.self)
        }
    }
}

/// block_q4_0: d = (signed value of largest magnitude) / -8, q = min(15, trunc(x / d + 8.5)).
func quantizeQ4_0(_ y: UnsafeMutableRawPointer, _ x: UnsafePointer<Float>, blocks: Int) {
    let blockBytes = GGMLType.q4_0.typeSize  // 18
    for b in 0 ..< blocks {
        let v = x + 32 * b, block = y + blockBytes * b
        var amax: Float = 0, extreme: Float = 0
        for j in 0 ..< 32 where amax < abs(v[j]) {
            amax = abs(v[j])
            extreme = v[j]
        }
        let d = extreme / -8
        let id: Float = d != 0 ? 1 / d : 0
        block.storeHalf(d, at: 0)
        for j in 0 ..< 16 {
            let q0 = clamped((v[j] * id + 8.5).rounded(.towardZero), 0 ... 15, nan: 8)
            let q1 = clamped((v[j + 16] * id + 8.5).rounded(.towardZero), 0 ... 15, nan: 8)
            block.storeBytes(of: UInt8(q0 | q1 << 4), toByteOffset: 2 + j, as: UInt8.self)
        }
    }
}

/// block_q4_1: d = (max - min) / 15, m = min, q = min(15, trunc((x - min) / d + 0.5)).
func quantizeQ4_1(_ y: UnsafeMutableRawPointer, _ x: UnsafePointer<Float>, blocks: Int) {
    let blockBytes = GGMLType.q4_1.typeSize  // 20
    for b in 0 ..< blocks {
        let v = x + 32 * b, block = y + blockBytes * b
        var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
        for j in 0 ..< 32 {
            lo = min(lo, v[j])
            hi = max(hi, v[j])
        }
        let d = (hi - lo) / 15
        let id: Float = d != 0 ? 1 / d : 0
        block.storeHalf(d, at: 0)
        block.storeHalf(lo, at: 2)
        for j in 0 ..< 16 {
            let q0 = clamped(((v[j] - lo) * id + 0.5).rounded(.towardZero), 0 ... 15, nan: 0)
            let q1 = clamped(((v[j + 16] - lo) * id + 0.5).rounded(.towardZero), 0 ... 15, nan: 0)
            block.storeBytes(of: UInt8(q0 | q1 << 4), toByteOffset: 4 + j, as: UInt8.self)
        }
    }
}
