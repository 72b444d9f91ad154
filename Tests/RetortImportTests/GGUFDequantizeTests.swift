import RetortImport
import XCTest

/// Each kernel against a per-element formula written here from the block layouts in ggml-common.h:
/// expected(block bytes, element index within the block) → value. Blocks are random bytes with
/// finite, moderate fp16 scales written over the scale fields.
final class GGUFDequantizeTests: XCTestCase {
    // MARK: Field readers on a block's bytes (little-endian)

    private func half(_ b: ArraySlice<UInt8>, _ o: Int) -> Float {
        let i = b.startIndex + o
        return ggufReferenceHalf(UInt16(b[i]) | UInt16(b[i + 1]) << 8)
    }
    private func u32(_ b: ArraySlice<UInt8>, _ o: Int) -> UInt32 {
        let i = b.startIndex + o
        return UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    }
    private func byte(_ b: ArraySlice<UInt8>, _ o: Int) -> Int { Int(b[b.startIndex + o]) }
    private func int8(_ b: ArraySlice<UInt8>, _ o: Int) -> Int { Int(Int8(bitPattern: b[b.startIndex + o])) }
    /// Nibble for element e of a 32-element block whose qs start at `qs`: low nibbles hold
    /// elements 0–15, high nibbles 16–31.
    private func nibble(_ b: ArraySlice<UInt8>, qs: Int, _ e: Int) -> Int {
        e < 16 ? byte(b, qs + e) & 0x0F : byte(b, qs + e - 16) >> 4
    }

    /// Random blocks, fp16 scales at `halfOffsets`, decoded by the kernel and by `expected`.
    private func check(
        _ type: GGMLType, blocks: Int = 5, halfOffsets: [Int], seed: UInt64,
        expected: (ArraySlice<UInt8>, Int) -> Float, file: StaticString = #filePath, line: UInt = #line
    ) {
        var rng = GGUFTestRNG(seed: seed)
        var bytes = rng.bytes(blocks * type.typeSize)
        for b in 0 ..< blocks {
            for o in halfOffsets {
                let bits = ggufRandomHalfBits(&rng)
                bytes[b * type.typeSize + o] = UInt8(bits & 0xFF)
                bytes[b * type.typeSize + o + 1] = UInt8(bits >> 8)
            }
        }
        var want: [Float] = []
        for b in 0 ..< blocks {
            let block = bytes[b * type.typeSize ..< (b + 1) * type.typeSize]
            for e in 0 ..< type.blockSize { want.append(expected(block, e)) }
        }
        let got = Self.run(type, bytes, count: blocks * type.blockSize)
        ggufAssertClose(got, want, tolerance: GGUFTolerance.dequantize, "\(type.name) dequantize", file: file, line: line)
    }

    private static func run(_ type: GGMLType, _ bytes: [UInt8], count: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: count)
        do {
            try bytes.withUnsafeBytes { src in
                try out.withUnsafeMutableBufferPointer { dst in
                    try dequantize(type, from: src, count: count, into: dst.baseAddress!)
                }
            }
        } catch {
            XCTFail("\(type.name): \(error)")
        }
        return out
    }

    // MARK: Scalar types

    func testF32() {
        var rng = GGUFTestRNG(seed: 1)
        let values = (0 ..< 100).map { _ in Float.random(in: -1e6 ... 1e6, using: &rng) }
        var bytes: [UInt8] = []
        for v in values { for i in 0 ..< 4 { bytes.append(UInt8(truncatingIfNeeded: v.bitPattern >> (8 * i))) } }
        ggufAssertClose(Self.run(.f32, bytes, count: 100), values, tolerance: 0, "F32")
    }

    /// Every one of the 65536 half bit patterns, including subnormals, infinities and NaNs.
    func testF16Exhaustive() {
        let bits = (0 ... UInt16.max).map { $0 }
        let bytes = bits.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        ggufAssertClose(Self.run(.f16, bytes, count: bits.count), bits.map(ggufReferenceHalf), tolerance: 0, "F16")
    }

    /// bfloat16 is the top half of a binary32.
    func testBF16Exhaustive() {
        let bits = (0 ... UInt16.max).map { $0 }
        let bytes = bits.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let want = bits.map { Float(bitPattern: UInt32($0) << 16) }
        ggufAssertClose(Self.run(.bf16, bytes, count: bits.count), want, tolerance: 0, "BF16")
    }

    // MARK: 32-element blocks

    /// block_q4_0 { f16 d; u8 qs[16] }: (nibble - 8)·d.
    func testQ4_0() {
        check(.q4_0, halfOffsets: [0], seed: 2) { b, e in Float(nibble(b, qs: 2, e) - 8) * half(b, 0) }
    }

    /// block_q4_1 { f16 d, m; u8 qs[16] }: nibble·d + m.
    func testQ4_1() {
        check(.q4_1, halfOffsets: [0, 2], seed: 3) { b, e in Float(nibble(b, qs: 4, e)) * half(b, 0) + half(b, 2) }
    }

    /// block_q5_0 { f16 d; u8 qh[4]; u8 qs[16] }: (nibble + 16·bit e of qh - 16)·d.
    func testQ5_0() {
        check(.q5_0, halfOffsets: [0], seed: 4) { b, e in
            let high = Int((u32(b, 2) >> UInt32(e)) & 1)
            return Float(nibble(b, qs: 6, e) + 16 * high - 16) * half(b, 0)
        }
    }

    /// block_q5_1 { f16 d, m; u8 qh[4]; u8 qs[16] }: (nibble + 16·bit e of qh)·d + m.
    func testQ5_1() {
        check(.q5_1, halfOffsets: [0, 2], seed: 5) { b, e in
            let high = Int((u32(b, 4) >> UInt32(e)) & 1)
            return Float(nibble(b, qs: 8, e) + 16 * high) * half(b, 0) + half(b, 2)
        }
    }

    /// block_q8_0 { f16 d; i8 qs[32] }: q·d.
    func testQ8_0() {
        check(.q8_0, halfOffsets: [0], seed: 6) { b, e in Float(int8(b, 2 + e)) * half(b, 0) }
    }

    // MARK: k-quants (256-element super-blocks)

    /// 6-bit (scale, min) of sub-block j from the 12 scale bytes at `o`: j < 4 in the low 6 bits of
    /// bytes j and j+4; j ≥ 4 low nibble/high nibble of byte j+4, top bits from bytes j-4 and j.
    private func scaleMin(_ b: ArraySlice<UInt8>, _ o: Int, _ j: Int) -> (Int, Int) {
        if j < 4 { return (byte(b, o + j) & 63, byte(b, o + j + 4) & 63) }
        return ((byte(b, o + j + 4) & 0xF) | (byte(b, o + j - 4) >> 6) << 4,
                (byte(b, o + j + 4) >> 4) | (byte(b, o + j) >> 6) << 4)
    }

    /// block_q4_K { f16 d, dmin; u8 scales[12]; u8 qs[128] }: sub-block s = e/32 of 32 values;
    /// chunk e/64 reads qs[32·chunk ..< 32·chunk+32], low nibbles for even s, high for odd.
    func testQ4_K() {
        check(.q4_K, blocks: 3, halfOffsets: [0, 2], seed: 7) { b, e in
            let s = e / 32, l = e % 32
            let q = byte(b, 16 + 32 * (e / 64) + l)
            let nib = s % 2 == 0 ? q & 0xF : q >> 4
            let (sc, m) = scaleMin(b, 4, s)
            return half(b, 0) * Float(sc) * Float(nib) - half(b, 2) * Float(m)
        }
    }

    /// block_q5_K { f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] }: as q4_K plus 16 for bit s
    /// of qh[e % 32].
    func testQ5_K() {
        check(.q5_K, blocks: 3, halfOffsets: [0, 2], seed: 8) { b, e in
            let s = e / 32, l = e % 32
            let q = byte(b, 48 + 32 * (e / 64) + l)
            let nib = s % 2 == 0 ? q & 0xF : q >> 4
            let high = (byte(b, 16 + l) >> s) & 1
            let (sc, m) = scaleMin(b, 4, s)
            return half(b, 0) * Float(sc) * Float(nib + 16 * high) - half(b, 2) * Float(m)
        }
    }

    /// block_q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }: each 128-value half h has 4 groups
    /// g of 32: low 4 bits from ql[64h + l (+32 for odd g)] (low nibble for g < 2, high otherwise),
    /// top 2 bits from qh[32h + l] at bit 2g; scale scales[e / 16]; value d·scale·(q - 32).
    func testQ6_K() {
        check(.q6_K, blocks: 3, halfOffsets: [208], seed: 9) { b, e in
            let h = e / 128, g = (e % 128) / 32, l = e % 32
            let lowByte = byte(b, 64 * h + l + (g % 2 == 1 ? 32 : 0))
            let low = g < 2 ? lowByte & 0xF : lowByte >> 4
            let top = (byte(b, 128 + 32 * h + l) >> (2 * g)) & 3
            return half(b, 208) * Float(int8(b, 192 + e / 16)) * Float((low | top << 4) - 32)
        }
    }

    /// block_q2_K { u8 scales[16]; u8 qs[64]; f16 d, dmin }: half h, group j = (e % 128) / 32 takes
    /// bits 2j..2j+1 of qs[32h + e % 32]; scales[e / 16] holds scale (low nibble) and min (high).
    func testQ2_K() {
        check(.q2_K, blocks: 3, halfOffsets: [80, 82], seed: 10) { b, e in
            let h = e / 128, j = (e % 128) / 32
            let q = (byte(b, 16 + 32 * h + e % 32) >> (2 * j)) & 3
            let packed = byte(b, e / 16)
            return half(b, 80) * Float(packed & 0xF) * Float(q) - half(b, 82) * Float(packed >> 4)
        }
    }

    /// block_q3_K { u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d }: 2 low bits as q2_K, minus 4
    /// unless bit (4h + j) of hmask[e % 32] is set; 16 6-bit scales (minus 32) unpacked the way
    /// ggml does it, as three u32 words with masks 0x0f0f0f0f / 0x03030303.
    func testQ3_K() {
        check(.q3_K, blocks: 3, halfOffsets: [108], seed: 11) { b, e in
            let h = e / 128, j = (e % 128) / 32
            let low = (byte(b, 32 + 32 * h + e % 32) >> (2 * j)) & 3
            let highSet = (byte(b, e % 32) >> (4 * h + j)) & 1 == 1
            let a0 = u32(b, 96), a1 = u32(b, 100), a2 = u32(b, 104)
            let words: [UInt32] = [
                (a0 & 0x0F0F_0F0F) | ((a2 >> 0) & 0x0303_0303) << 4,
                (a1 & 0x0F0F_0F0F) | ((a2 >> 2) & 0x0303_0303) << 4,
                ((a0 >> 4) & 0x0F0F_0F0F) | ((a2 >> 4) & 0x0303_0303) << 4,
                ((a1 >> 4) & 0x0F0F_0F0F) | ((a2 >> 6) & 0x0303_0303) << 4,
            ]
            let i = e / 16
            let scale = Int((words[i / 4] >> (8 * UInt32(i % 4))) & 0xFF) - 32
            return half(b, 108) * Float(scale) * Float(low - (highSet ? 0 : 4))
        }
    }

    /// block_q8_K { f32 d; i8 qs[256]; i16 bsums[16] }: d·q.
    func testQ8_K() {
        var rng = GGUFTestRNG(seed: 12)
        let blocks = 2
        var bytes = rng.bytes(blocks * 292)
        var want: [Float] = []
        for b in 0 ..< blocks {
            let d = Float.random(in: -0.01 ... 0.01, using: &rng)
            for i in 0 ..< 4 { bytes[292 * b + i] = UInt8(truncatingIfNeeded: d.bitPattern >> (8 * i)) }
            for e in 0 ..< 256 { want.append(d * Float(Int8(bitPattern: bytes[292 * b + 4 + e]))) }
        }
        ggufAssertClose(Self.run(.q8_K, bytes, count: blocks * 256), want, tolerance: GGUFTolerance.dequantize, "Q8_K")
    }

    // MARK: Argument checks

    func testRejectsBadArguments() throws {
        let bytes = [UInt8](repeating: 0, count: 40)
        var out = [Float](repeating: 0, count: 64)
        try bytes.withUnsafeBytes { src in
            try out.withUnsafeMutableBufferPointer { dst in
                XCTAssertThrowsError(try dequantize(.q8_0, from: src, count: 31, into: dst.baseAddress!)) {
                    guard case .invalid = ($0 as? GGUFError)?.kind else { return XCTFail("\($0)") }
                }
                XCTAssertThrowsError(try dequantize(.q8_0, from: src, count: 64, into: dst.baseAddress!)) {
                    guard case .outOfRange = ($0 as? GGUFError)?.kind else { return XCTFail("\($0)") }
                }
                XCTAssertThrowsError(try dequantize(.iq2_xxs, from: src, count: 0, into: dst.baseAddress!)) {
                    XCTAssertEqual(($0 as? GGUFError)?.kind, .unsupportedDequantization(.iq2_xxs))
                }
                XCTAssertNoThrow(try dequantize(.q8_0, from: src, count: 0, into: dst.baseAddress!))
            }
        }
    }
}
