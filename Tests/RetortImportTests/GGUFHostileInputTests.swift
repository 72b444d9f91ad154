import RetortImport
import XCTest

/// Malformed and malicious files: each must be rejected with a specific typed error naming the
/// field, never a crash, and never a large allocation before the rejection.
final class GGUFHostileInputTests: XCTestCase {
    /// Value type ids (gguf_type).
    private enum T {
        static let uint8: UInt32 = 0, uint32: UInt32 = 4, bool: UInt32 = 7, string: UInt32 = 8
        static let array: UInt32 = 9, uint64: UInt32 = 10
    }

    /// A valid file with one kv and one F32 tensor "w" of `count` values, edited by `tensorInfos`.
    private func file(
        tensors: UInt64 = 1, kvs: UInt64 = 1,
        metadata: (inout GGUFBytes) -> Void = { $0.kv("k", type: 4) { $0.u32(1) } },
        tensorInfos: (inout GGUFBytes) -> Void = { $0.tensorInfo("w", dims: [8], type: 0, offset: 0) },
        dataBytes: Int = 32
    ) -> [UInt8] {
        var b = GGUFBytes()
        b.header(tensors: tensors, kvs: kvs)
        metadata(&b)
        tensorInfos(&b)
        b.pad(to: 32)
        b.raw([UInt8](repeating: 0x3F, count: dataBytes))
        return b.bytes
    }

    func testBaselineIsValid() throws {
        let parsed = try GGUFFile(bytes: file())
        XCTAssertEqual(parsed.tensors.first?.byteCount, 32)
    }

    // MARK: Header

    func testWrongMagic() {
        var bytes = file()
        bytes[0 ..< 4] = [0x47, 0x47, 0x4D, 0x4C]  // "GGML"
        ggufAssertRejects(bytes, field: "header.magic", kind: .badMagic(found: 0x4C4D_4747))
        ggufAssertRejects([0x47, 0x47], field: "header.magic", kind: .truncated(offset: 0, needed: 4, fileSize: 2))
    }

    func testUnsupportedVersions() {
        for version: UInt32 in [0, 1, 4, 0x0300_0000] {  // 0x03000000: a big-endian v3 file
            var bytes = file()
            bytes[4 ..< 8] = ArraySlice(withUnsafeBytes(of: version.littleEndian, Array.init))
            ggufAssertRejects(bytes, field: "header.version", kind: .unsupportedVersion(found: version))
        }
    }

    /// Every strict prefix of a valid file is rejected as truncated (the last tensor ends exactly at
    /// the end of the file, so no prefix is accidentally complete).
    func testTruncatedAtEveryCutPoint() throws {
        var writer = GGUFWriter()
        writer.set("general.name", .string("tiny"))
        writer.set("n", .uint32(3))
        writer.set("tokens", .array(elementType: .string, values: [.string("a"), .string("bc")]))
        writer.set("nested", .array(elementType: .array, values: [.array(elementType: .int16, values: [.int16(1)])]))
        writer.set("eps", .float32(1e-5))
        let q8 = try [Float](repeating: 0.5, count: 32).withUnsafeBufferPointer {
            try quantize(.q8_0, from: $0.baseAddress!, count: 32)
        }
        writer.addTensor(name: "q", dims: [32], type: .q8_0, bytes: q8)
        writer.addTensor(name: "f", dims: [4, 2], values: [1, 2, 3, 4, 5, 6, 7, 8])
        let bytes = writer.serialize()
        XCTAssertNoThrow(try GGUFFile(bytes: bytes))
        for length in 0 ..< bytes.count {
            do {
                _ = try GGUFFile(bytes: Array(bytes[0 ..< length]), path: "cut.gguf")
                XCTFail("prefix of \(length) of \(bytes.count) bytes accepted")
            } catch {
                guard case .truncated(_, _, let size) = error.kind, size == length else {
                    XCTFail("prefix \(length): \(error)")
                    continue
                }
            }
        }
    }

    // MARK: Counts and lengths

    func testTensorCountBeyondFile() {
        let small = file(tensors: 1000)
        ggufAssertRejects(small, field: "header.tensor_count",
                          kind: .truncated(offset: 16, needed: 24_000, fileSize: small.count))
        ggufAssertRejects(file(tensors: UInt64(Int.max) / 2), field: "header.tensor_count", kind: .overflow)
        ggufAssertRejects(file(tensors: .max), field: "header.tensor_count") {
            if case .outOfRange = $0 { true } else { false }
        }
    }

    func testKVCountBeyondFile() {
        let small = file(kvs: 1000)
        ggufAssertRejects(small, field: "header.kv_count",
                          kind: .truncated(offset: 24, needed: 13_000, fileSize: small.count))
        ggufAssertRejects(file(kvs: UInt64(Int.max) / 4), field: "header.kv_count", kind: .overflow)
        ggufAssertRejects(file(kvs: .max), field: "header.kv_count") { if case .outOfRange = $0 { true } else { false } }
    }

    func testArrayLengthBeyondFile() {
        func array(_ element: UInt32, count: UInt64) -> [UInt8] {
            file(metadata: { $0.kv("arr", type: T.array) { $0.u32(element); $0.u64(count) } })
        }
        ggufAssertRejects(array(T.uint32, count: 1 << 40), field: "kv[0].value (arr)") {
            if case .truncated(_, 1 << 42, _) = $0 { true } else { false }
        }
        ggufAssertRejects(array(T.uint64, count: 1 << 62), field: "kv[0].value (arr)", kind: .overflow)
        ggufAssertRejects(array(T.string, count: .max), field: "kv[0].value (arr)") {
            if case .outOfRange = $0 { true } else { false }
        }
        // Nested: an inner array claiming more elements than the file holds.
        let nested = file(metadata: {
            $0.kv("arr", type: T.array) { $0.u32(T.array); $0.u64(2); $0.u32(T.uint8); $0.u64(1); $0.u8(9)
                $0.u32(T.uint8); $0.u64(1 << 50) }
        })
        ggufAssertRejects(nested, field: "kv[0].value[1] (arr)") { if case .truncated = $0 { true } else { false } }
    }

    func testStringLengthBeyondFile() {
        var key = GGUFBytes()
        key.header(tensors: 0, kvs: 1)
        key.u64(1 << 60)
        key.raw([UInt8](repeating: 0, count: 16))  // enough left for one kv, far from 2^60
        ggufAssertRejects(key.bytes, field: "kv[0].key",
                          kind: .truncated(offset: 32, needed: 1 << 60, fileSize: key.bytes.count))

        let value = file(metadata: { $0.kv("s", type: T.string) { $0.u64(.max - 3) } })
        ggufAssertRejects(value, field: "kv[0].value (s)") { if case .outOfRange = $0 { true } else { false } }

        let element = file(metadata: {
            $0.kv("toks", type: T.array) { $0.u32(T.string); $0.u64(2); $0.string("ok"); $0.u64(1 << 33) }
        })
        ggufAssertRejects(element, field: "kv[0].value[1] (toks)") { if case .truncated = $0 { true } else { false } }

        let name = file(tensorInfos: { $0.u64(5000) })
        ggufAssertRejects(name, field: "tensor[0].name") { if case .truncated = $0 { true } else { false } }
    }

    // MARK: Tensor shapes and placement

    func testTooManyDimensions() {
        let bytes = file(tensorInfos: { $0.tensorInfo("w", dims: [8, 1, 1, 1, 1], type: 0, offset: 0) })
        ggufAssertRejects(bytes, field: "tensor[0].n_dims (w)") { if case .outOfRange = $0 { true } else { false } }
    }

    func testDimensionProductOverflow() {
        let product = file(tensorInfos: { $0.tensorInfo("w", dims: [1 << 32, 1 << 32], type: 0, offset: 0) })
        ggufAssertRejects(product, field: "tensor[0].dims (w)", kind: .overflow)
        let bytes = file(tensorInfos: { $0.tensorInfo("w", dims: [1 << 62], type: 0, offset: 0) })  // ×4 bytes
        ggufAssertRejects(bytes, field: "tensor[0].dims (w)", kind: .overflow)
        let negative = file(tensorInfos: { $0.tensorInfo("w", dims: [.max], type: 0, offset: 0) })
        ggufAssertRejects(negative, field: "tensor[0].dims (w)") { if case .outOfRange = $0 { true } else { false } }
        let rows = file(tensorInfos: { $0.tensorInfo("w", dims: [33], type: 8, offset: 0) })  // Q8_0 rows of 33
        ggufAssertRejects(rows, field: "tensor[0].dims (w)") { if case .invalid = $0 { true } else { false } }
    }

    func testTensorDataPastEndOfFile() {
        let missing = file(dataBytes: 31)
        let dataStart = missing.count - 31
        ggufAssertRejects(missing, field: "tensor[0].offset (w)",
                          kind: .truncated(offset: dataStart, needed: 32, fileSize: missing.count))
        let far = file(tensorInfos: { $0.tensorInfo("w", dims: [8], type: 0, offset: 1 << 40) })
        ggufAssertRejects(far, field: "tensor[0].offset (w)") { if case .truncated = $0 { true } else { false } }
        let wrap = file(tensorInfos: { $0.tensorInfo("w", dims: [8], type: 0, offset: UInt64(Int.max) - 31) })
        ggufAssertRejects(wrap, field: "tensor[0].offset (w)", kind: .overflow)
        let huge = file(tensorInfos: { $0.tensorInfo("w", dims: [8], type: 0, offset: .max) })
        ggufAssertRejects(huge, field: "tensor[0].offset (w)") { if case .outOfRange = $0 { true } else { false } }
    }

    func testMisalignedOffset() throws {
        let bytes = file(tensorInfos: { $0.tensorInfo("w", dims: [4], type: 0, offset: 4) })
        let dataStart = bytes.count - 32
        ggufAssertRejects(bytes, field: "tensor[0].offset (w)", kind: .misaligned(offset: dataStart + 4, alignment: 32))
        // With general.alignment = 4 the same offset is fine.
        let aligned4 = file(metadata: { $0.kv("general.alignment", type: T.uint32) { $0.u32(4) } },
                            tensorInfos: { $0.tensorInfo("w", dims: [4], type: 0, offset: 4) })
        XCTAssertEqual(try GGUFFile(bytes: aligned4).alignment, 4)
    }

    func testOverlappingTensors() {
        let bytes = file(tensors: 2, tensorInfos: {
            $0.tensorInfo("a", dims: [16], type: 0, offset: 0)   // 0 ..< 64
            $0.tensorInfo("b", dims: [8], type: 0, offset: 32)   // 32 ..< 64
        }, dataBytes: 64)
        ggufAssertRejects(bytes, field: "tensor[1].offset (b)") { if case .invalid = $0 { true } else { false } }
        let same = file(tensors: 2, tensorInfos: {
            $0.tensorInfo("a", dims: [8], type: 0, offset: 0)
            $0.tensorInfo("b", dims: [8], type: 0, offset: 0)
        })
        ggufAssertRejects(same, field: "tensor[1].offset (b)") { if case .invalid = $0 { true } else { false } }
        let reversed = file(tensors: 2, tensorInfos: {
            $0.tensorInfo("a", dims: [8], type: 0, offset: 32)   // 32 ..< 64
            $0.tensorInfo("b", dims: [16], type: 0, offset: 0)   // 0 ..< 64
        }, dataBytes: 64)
        ggufAssertRejects(reversed, field: "tensor[1].offset (b)") { if case .invalid = $0 { true } else { false } }
    }

    // MARK: Types, names and values

    func testUnknownValueType() {
        ggufAssertRejects(file(metadata: { $0.kv("k", type: 13) { $0.u32(0) } }),
                          field: "kv[0].type (k)", kind: .unknownValueType(13))
        ggufAssertRejects(file(metadata: { $0.kv("k", type: T.array) { $0.u32(99); $0.u64(0) } }),
                          field: "kv[0].value (k)", kind: .unknownValueType(99))
    }

    func testUnknownTensorType() {
        for raw: UInt32 in [4, 31, 1000] {
            ggufAssertRejects(file(tensorInfos: { $0.tensorInfo("w", dims: [8], type: raw, offset: 0) }),
                              field: "tensor[0].type (w)", kind: .unknownTensorType(raw))
        }
    }

    func testDuplicateNames() {
        let keys = file(kvs: 2, metadata: {
            $0.kv("a", type: T.uint8) { $0.u8(1) }
            $0.kv("a", type: T.uint8) { $0.u8(2) }
        })
        ggufAssertRejects(keys, field: "kv[1].key", kind: .duplicate("a"))
        let tensors = file(tensors: 2, tensorInfos: {
            $0.tensorInfo("w", dims: [8], type: 0, offset: 0)
            $0.tensorInfo("w", dims: [8], type: 0, offset: 32)
        }, dataBytes: 64)
        ggufAssertRejects(tensors, field: "tensor[1].name", kind: .duplicate("w"))
    }

    func testInvalidStringsAndValues() {
        let badKey = file(metadata: { $0.rawString([0x61, 0xFF]); $0.u32(T.uint8); $0.u8(0) })
        ggufAssertRejects(badKey, field: "kv[0].key") { if case .invalid = $0 { true } else { false } }
        let truncatedSequence = file(metadata: { $0.kv("s", type: T.string) { $0.rawString([0xF0, 0x9F, 0x98, 0x41]) } })
        ggufAssertRejects(truncatedSequence, field: "kv[0].value (s)") { if case .invalid = $0 { true } else { false } }
        let badName = file(tensorInfos: { $0.rawString([0xC0, 0x80]); $0.u32(1); $0.u64(8); $0.u32(0); $0.u64(0) })
        ggufAssertRejects(badName, field: "tensor[0].name") { if case .invalid = $0 { true } else { false } }
        let emptyKey = file(metadata: { $0.kv("", type: T.uint8) { $0.u8(0) } })
        ggufAssertRejects(emptyKey, field: "kv[0].key", kind: .invalid("empty key"))
        let badBool = file(metadata: { $0.kv("b", type: T.bool) { $0.u8(2) } })
        ggufAssertRejects(badBool, field: "kv[0].value (b)") { if case .invalid = $0 { true } else { false } }
    }

    func testBadAlignment() {
        for bad: UInt32 in [0, 3, 48] {
            let bytes = file(metadata: { $0.kv("general.alignment", type: T.uint32) { $0.u32(bad) } })
            ggufAssertRejects(bytes, field: "general.alignment") { if case .invalid = $0 { true } else { false } }
        }
        let wrongType = file(metadata: { $0.kv("general.alignment", type: T.uint64) { $0.u64(32) } })
        ggufAssertRejects(wrongType, field: "general.alignment", kind: .typeMismatch(expected: "uint32", found: "uint64"))
    }

    func testDeeplyNestedArrays() {
        let depth = 100_000  // would overflow the stack if nesting were unbounded
        let bytes = file(metadata: {
            $0.kv("deep", type: T.array) { b in for _ in 0 ..< depth { b.u32(T.array); b.u64(1) } }
        })
        ggufAssertRejects(bytes, field: "kv[0].value" + String(repeating: "[0]", count: 16) + " (deep)") {
            if case .invalid = $0 { true } else { false }
        }
    }

    /// Random byte mutations of a valid file: parsing either fails with a GGUFError or yields a
    /// file whose every tensor can be read — never a crash.
    func testRandomMutationsNeverCrash() throws {
        var writer = GGUFWriter()
        writer.set("general.name", .string("fuzz"))
        writer.set("arr", .array(elementType: .array, values: [.array(elementType: .uint32, values: [.uint32(5)])]))
        writer.set("toks", .array(elementType: .string, values: [.string("x"), .string("yz")]))
        let q4 = try [Float](repeating: -0.25, count: 64).withUnsafeBufferPointer {
            try quantize(.q4_1, from: $0.baseAddress!, count: 64)
        }
        writer.addTensor(name: "q", dims: [64], type: .q4_1, bytes: q4)
        writer.addTensor(name: "k", dims: [256], type: .q6_K, bytes: [UInt8](repeating: 7, count: 210))
        writer.addTensor(name: "f", dims: [2], values: [1, 2])
        let original = writer.serialize()
        var rng = GGUFTestRNG(seed: 99)
        var accepted = 0
        for _ in 0 ..< 3000 {
            var bytes = original
            for _ in 0 ..< Int.random(in: 1 ... 4, using: &rng) {
                let i = Int.random(in: 0 ..< bytes.count, using: &rng)
                bytes[i] = Bool.random(using: &rng) ? UInt8.random(in: 0 ... 255, using: &rng) : bytes[i] ^ 0x80
            }
            if Int.random(in: 0 ..< 10, using: &rng) == 0 { bytes.removeLast(Int.random(in: 1 ... 40, using: &rng)) }
            guard let parsed = try? GGUFFile(bytes: bytes) else { continue }
            accepted += 1
            for t in parsed.tensors where t.type.canDequantize {
                XCTAssertEqual(try parsed.dequantize(t).count, t.elementCount)
            }
            _ = parsed.metadata.map { $0.value.typeDescription }
        }
        XCTAssertGreaterThan(accepted, 0, "some mutations (e.g. in tensor data) keep the file valid")
    }
}
