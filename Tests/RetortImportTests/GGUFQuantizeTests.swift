import Foundation
import RetortImport
import XCTest

/// Reference quantizers: round-trip error bounds derived from each format, plus hand-computed
/// blocks that pin ggml's exact rounding rules.
final class GGUFQuantizeTests: XCTestCase {
    private func quantized(_ type: GGMLType, _ values: [Float]) throws -> [UInt8] {
        try values.withUnsafeBufferPointer { try quantize(type, from: $0.baseAddress!, count: values.count) }
    }

    private func roundTrip(_ type: GGMLType, _ values: [Float]) throws -> [Float] {
        let bytes = try quantized(type, values)
        XCTAssertEqual(bytes.count, type.byteCount(elements: values.count))
        var out = [Float](repeating: .nan, count: values.count)
        try bytes.withUnsafeBytes { src in
            try out.withUnsafeMutableBufferPointer { try dequantize(type, from: src, count: values.count, into: $0.baseAddress!) }
        }
        return out
    }

    /// Gaussian-ish test data with varied block magnitudes, a few zero blocks and outliers.
    private func sample(_ count: Int, seed: UInt64) -> [Float] {
        var rng = GGUFTestRNG(seed: seed)
        return (0 ..< count).map { i in
            let block = i / 32
            if block % 7 == 3 { return 0 }
            let scale = Float(block % 5 + 1) * 0.02
            let v = (0 ..< 4).map { _ in Float.random(in: -1 ... 1, using: &rng) }.reduce(0, +) * scale
            return i % 97 == 0 ? v * 40 : v
        }
    }

    /// Checks |x - x'| ≤ bound(block values) for every element; prints the first violations.
    private func assertBounded(
        _ type: GGMLType, _ values: [Float], _ label: String, line: UInt = #line,
        bound: (_ block: ArraySlice<Float>) -> Float
    ) throws {
        let out = try roundTrip(type, values)
        var violations: [String] = []
        for start in stride(from: 0, to: values.count, by: 32) {
            let block = values[start ..< start + 32]
            let limit = bound(block)
            for i in block.indices where !(abs(out[i] - values[i]) <= limit) && violations.count < 8 {
                violations.append("  [\(i)] \(values[i]) → \(out[i]), error \(abs(out[i] - values[i])) > \(limit)")
            }
        }
        XCTAssert(violations.isEmpty, "\(label) round trip:\n" + violations.joined(separator: "\n"), line: line)
    }

    private func amax(_ block: ArraySlice<Float>) -> Float { block.map(abs).max() ?? 0 }

    /// q8_0: rounding costs d/2 = amax/254; storing d as fp16 (relative error ≤ 2^-11) moves each
    /// q·d by up to 127·d·2^-11 ≈ amax/2048.
    func testQ8_0RoundTripBound() throws {
        try assertBounded(.q8_0, sample(4096, seed: 1), "Q8_0") { amax($0) * (1 / 254 + 1 / 2048) * 1.001 }
    }

    /// q4_0: d = -(signed extreme)/8; in range, rounding costs |d|/2 = amax/16, but the side opposite
    /// the extreme clips at 7·|d|, so the worst case is amax/8; fp16 d adds 8·|d|·2^-11.
    func testQ4_0RoundTripBound() throws {
        try assertBounded(.q4_0, sample(4096, seed: 2), "Q4_0") { amax($0) * (1 / 8 + 1 / 2048) * 1.001 }
    }

    /// q4_1: d = (max - min)/15, rounding costs d/2; fp16 rounding of d and m adds
    /// ((max - min) + |min|)·2^-11.
    func testQ4_1RoundTripBound() throws {
        try assertBounded(.q4_1, sample(4096, seed: 3), "Q4_1") { block in
            let lo = block.min()!, hi = block.max()!
            return ((hi - lo) / 30 + ((hi - lo) + abs(lo)) / 2048) * 1.001
        }
    }

    /// f16: relative error ≤ 2^-11 for normal values; absolute 2^-25 in the subnormal range.
    func testF16RoundTripBound() throws {
        var values = sample(4096, seed: 4)
        values += [65504, -65504, 6.1e-5, 3e-8, 0, -0.0, 1, 1.0009765625]
        let out = try roundTrip(.f16, values)
        for (x, y) in zip(values, out) {
            XCTAssert(abs(x - y) <= max(abs(x) * 0x1p-11, 0x1p-25), "\(x) → \(y)")
        }
    }

    /// bf16 keeps 8 significant bits: round to nearest costs at most half an ulp, 2^-8 relative.
    func testBF16RoundTrip() throws {
        let values = sample(1024, seed: 5)
        let out = try roundTrip(.bf16, values)
        for (x, y) in zip(values, out) { XCTAssert(abs(x - y) <= abs(x) * 0x1p-8, "\(x) → \(y)") }
        XCTAssertEqual(try roundTrip(.f32, values), values)
    }

    /// fp16 rounding is to nearest even, with overflow to infinity, exactly like F16C / ggml.
    func testF16RoundingRules() throws {
        func bits(_ x: Float) throws -> UInt16 {
            let b = try quantized(.f16, [x])
            return UInt16(b[0]) | UInt16(b[1]) << 8
        }
        XCTAssertEqual(try bits(1), 0x3C00)
        XCTAssertEqual(try bits(1 + 0x1p-11), 0x3C00, "tie goes to even")
        XCTAssertEqual(try bits(1 + 3 * 0x1p-11), 0x3C02, "tie goes to even")
        XCTAssertEqual(try bits(65504), 0x7BFF)
        XCTAssertEqual(try bits(65520), 0x7C00, "rounds up to infinity")
        XCTAssertEqual(try bits(-.infinity), 0xFC00)
        XCTAssertEqual(try bits(0x1p-24), 0x0001, "smallest subnormal")
        XCTAssertEqual(try bits(0x1p-25), 0x0000, "tie to even: zero")
        XCTAssertEqual(try bits(0x1p-14 - 0x1p-25), 0x0400, "rounds up into the normals")
        XCTAssertEqual(try bits(-0.0), 0x8000)
        XCTAssertEqual(try bits(.nan) & 0x7C00, 0x7C00)
        XCTAssertNotEqual(try bits(.nan) & 0x03FF, 0)
    }

    /// quantize_row_q8_0_ref rounds half away from zero (roundf), not to even.
    func testQ8_0RoundsHalfAwayFromZero() throws {
        var values = [Float](repeating: 0, count: 32)
        values[0] = 127  // amax 127 → d = 1 exactly
        values[1] = 0.5
        values[2] = -2.5
        values[3] = 1.5
        values[4] = -127
        let bytes = try quantized(.q8_0, values)
        XCTAssertEqual(bytes[0 ..< 2], [0x00, 0x3C])  // d = 1.0 in fp16
        XCTAssertEqual(bytes[2 ..< 7].map { Int8(bitPattern: $0) }, [127, 1, -3, 2, -127])
    }

    /// quantize_row_q4_0_ref: d = extreme / -8 and q = min(15, trunc(x/d + 8.5)).
    func testQ4_0MatchesReferenceRule() throws {
        var values = [Float](repeating: 0, count: 32)
        values[0] = -8       // extreme → d = 1, q = 0
        values[1] = 7        // q = 15
        values[2] = 0.5      // 9.0 → 9
        values[3] = -0.49    // 8.01 → 8
        values[16] = 3       // high nibble of qs[0]: 11.5 → 11
        let bytes = try quantized(.q4_0, values)
        XCTAssertEqual(bytes[0 ..< 2], [0x00, 0x3C])
        XCTAssertEqual(bytes[2], 0 | 11 << 4)
        XCTAssertEqual(bytes[3] & 0x0F, 15)
        XCTAssertEqual(bytes[4] & 0x0F, 9)
        XCTAssertEqual(bytes[5] & 0x0F, 8)
        XCTAssertEqual(bytes[6] & 0x0F, 8, "zero is q = 8")
    }

    /// Byte-exact against gguf-py's `gguf.quants.quantize` (a numpy port of ggml's reference
    /// quantizers) on v[i] = ((37·i) mod 101 - 50) / 16 with v[40] = 0.1, printed once as hex.
    func testMatchesGGUFPyBytes() throws {
        var values = (0 ..< 64).map { Float((37 * $0) % 101 - 50) / 16 }
        values[40] = 0.1
        let golden: [(GGMLType, String)] = [
            (.q8_0, "4d2681df3d9af856b41270cd2b89e745a2005ebb1977d53390ee4caa0866c3217fdc2c263c96f656b0106fca"
                + "0484e3439efd5db71777d1318beb4ba50565bf1f7fd93993"),
            (.q4_0, "4036e046acf258bd1379df358be046acf26820b6740fb953fd9731eb882fca640ea842fd"),
            (.q4_1, "ab3640c2d0369bf257bd1369ce258ae0469cf258773600c29bf157ad0368ce2488d0469bf257bd13"),
            (.f16, "40c280ba003e00c100b2404080bf0037804100bd403ce0c100b9c03ea0c00000a040c0be0039e04140bc003d80c1"
                + "00b7803f40c00032004100be803a404200bbc03d20c100b42040c0bf0036604140bd662e00c280b9803ec0c000ac"
                + "804000bf8038c04180bcc03ca0c100b8403f60c00030e04040be003a204280bb803d40c1"),
            (.bf16, "48c050bfc03f20c040be0840f0bfe03e3040a0bf883f3cc020bfd83f14c000001440d8bf203f3c4088bfa03f30c0"
                + "e0bef03f08c0403e2040c0bf503f484060bfb83f24c080be0440f8bfc03e2c40a8bfcd3d40c030bfd03f18c080bd"
                + "1040e0bf103f384090bf983f34c000bfe83f0cc0003e1c40c8bf403f444070bfb03f28c0"),
        ]
        for (type, hex) in golden {
            let bytes = try quantized(type, values)
            XCTAssertEqual(bytes.map { String(format: "%02x", $0) }.joined(), hex, type.name)
        }
    }

    func testZeroBlocksAndRejections() throws {
        let zeros = [Float](repeating: 0, count: 64)
        for type in [GGMLType.q8_0, .q4_0, .q4_1] { XCTAssertEqual(try roundTrip(type, zeros), zeros, type.name) }
        // Tiny (subnormal) blocks must not trap even though 1/d overflows.
        let tiny = (0 ..< 32).map { Float($0) * Float.leastNormalMagnitude / 64 }
        for type in [GGMLType.q8_0, .q4_0, .q4_1] { XCTAssertNoThrow(try roundTrip(type, tiny), type.name) }

        XCTAssertThrowsError(try quantized(.q8_0, [Float](repeating: 1, count: 31))) {
            guard case .invalid = ($0 as? GGUFError)?.kind else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try quantized(.q6_K, [Float](repeating: 1, count: 256))) {
            XCTAssertEqual(($0 as? GGUFError)?.kind, .unsupportedQuantization(.q6_K))
        }
        var withNaN = [Float](repeating: 1, count: 32)
        withNaN[5] = .nan
        XCTAssertThrowsError(try quantized(.q4_1, withNaN)) {
            guard case .invalid = ($0 as? GGUFError)?.kind else { return XCTFail("\($0)") }
        }
    }
}
