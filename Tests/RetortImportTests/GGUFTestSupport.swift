import RetortImport
import RetortRuntime
import XCTest

// Shared helpers for the GGUF tests: a seeded RNG, an fp16 reference written from the IEEE 754
// definition, a tolerance check that prints the first mismatches, a hand assembler for GGUF bytes
// (independent of GGUFWriter) and a typed-error assertion.

/// Deterministic, seedable generator for reproducible random tests.
typealias GGUFTestRNG = SeededGenerator

extension SeededGenerator {
    mutating func bytes(_ count: Int) -> [UInt8] { (0 ..< count).map { _ in UInt8.random(in: 0 ... 255, using: &self) } }
}

/// binary16 → Float from the definition: (-1)^s · 2^(e-15) · (1 + m/1024), subnormals 2^-14 · m/1024.
func ggufReferenceHalf(_ bits: UInt16) -> Float {
    let sign: Float = bits & 0x8000 != 0 ? -1 : 1
    let exponent = Int((bits >> 10) & 0x1F), mantissa = Float(bits & 0x3FF)
    if exponent == 0 { return sign * mantissa * Float(sign: .plus, exponent: -24, significand: 1) }
    if exponent == 31 { return mantissa == 0 ? sign * .infinity : .nan }
    return sign * (1024 + mantissa) * Float(sign: .plus, exponent: exponent - 25, significand: 1)
}

/// A random finite half with a modest exponent, for block scales.
func ggufRandomHalfBits(_ rng: inout GGUFTestRNG, exponents: ClosedRange<UInt16> = 8 ... 17) -> UInt16 {
    let sign: UInt16 = Bool.random(using: &rng) ? 0x8000 : 0
    return sign | UInt16.random(in: exponents, using: &rng) << 10 | UInt16.random(in: 0 ... 0x3FF, using: &rng)
}

/// Named tolerances for the GGUF tests.
enum GGUFTolerance {
    /// Dequantization against the per-element reference: same formula, maybe another operation order.
    static let dequantize: Float = 1e-6
    /// Teacher tensors against values printed once by gguf-py.
    static let golden: Float = 1e-6
}

/// Fails unless |actual - expected| ≤ tolerance · max(1, |expected|) everywhere; prints the first
/// mismatches and the worst error.
func ggufAssertClose(
    _ actual: [Float], _ expected: [Float], tolerance: Float, _ label: String,
    file: StaticString = #filePath, line: UInt = #line
) {
    guard actual.count == expected.count else {
        XCTFail("\(label): \(actual.count) values, expected \(expected.count)", file: file, line: line)
        return
    }
    var mismatches: [String] = []
    var worst: Float = 0
    for i in actual.indices {
        if actual[i] == expected[i] || (actual[i].isNaN && expected[i].isNaN) { continue }
        let error = abs(actual[i] - expected[i])
        let allowed = tolerance * max(1, abs(expected[i]))
        if !(error <= allowed) {
            if mismatches.count < 8 { mismatches.append("  [\(i)] got \(actual[i]), expected \(expected[i]), error \(error)") }
            worst = max(worst, error.isNaN ? .infinity : error)
        }
    }
    if !mismatches.isEmpty {
        XCTFail("\(label): values differ beyond tolerance \(tolerance) (worst error \(worst)); first mismatches:\n"
                + mismatches.joined(separator: "\n"), file: file, line: line)
    }
}

/// Assembles GGUF bytes by hand, field by field, straight from the format description, so the
/// reader can be fed anything — including what GGUFWriter would refuse to write.
struct GGUFBytes {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { for i in 0 ..< 4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u64(_ v: UInt64) { for i in 0 ..< 8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func raw(_ v: [UInt8]) { bytes.append(contentsOf: v) }
    mutating func string(_ s: String) { rawString(Array(s.utf8)) }
    mutating func rawString(_ utf8: [UInt8]) {
        u64(UInt64(utf8.count))
        raw(utf8)
    }

    /// magic, version, tensor count, kv count.
    mutating func header(version: UInt32 = 3, tensors: UInt64, kvs: UInt64) {
        raw(Array("GGUF".utf8))
        u32(version)
        u64(tensors)
        u64(kvs)
    }

    /// key, value type id, then whatever `value` appends.
    mutating func kv(_ key: String, type: UInt32, _ value: (inout GGUFBytes) -> Void) {
        string(key)
        u32(type)
        value(&self)
    }

    mutating func tensorInfo(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64) {
        string(name)
        u32(UInt32(dims.count))
        for d in dims { u64(d) }
        u32(type)
        u64(offset)
    }

    mutating func pad(to alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }
}

/// Fails unless parsing `bytes` throws a GGUFError for `field` whose kind satisfies `matches`.
func ggufAssertRejects(
    _ bytes: [UInt8], field: String, file: StaticString = #filePath, line: UInt = #line,
    _ matches: (GGUFError.Kind) -> Bool
) {
    do {
        let parsed = try GGUFFile(bytes: bytes, path: "hostile.gguf")
        XCTFail("accepted a hostile file with \(parsed.tensors.count) tensors", file: file, line: line)
    } catch {
        XCTAssertEqual(error.field, field, "\(error)", file: file, line: line)
        XCTAssertEqual(error.file, "hostile.gguf", file: file, line: line)
        XCTAssertTrue(matches(error.kind), "unexpected kind: \(error)", file: file, line: line)
    }
}

/// `ggufAssertRejects` for an exact kind.
func ggufAssertRejects(
    _ bytes: [UInt8], field: String, kind: GGUFError.Kind, file: StaticString = #filePath, line: UInt = #line
) {
    ggufAssertRejects(bytes, field: field, file: file, line: line) { $0 == kind }
}
