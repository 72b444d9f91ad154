import Foundation
import RetortImport
import XCTest

/// GGUFWriter → bytes → GGUFFile, and the writer's bytes against a hand-assembled image.
final class GGUFRoundTripTests: XCTestCase {
    /// One value of every type, plus empty, nested and non-ASCII ones.
    static let allValues: [(String, GGUFValue)] = [
        ("t.uint8", .uint8(200)), ("t.int8", .int8(-100)), ("t.uint16", .uint16(60000)),
        ("t.int16", .int16(-30000)), ("t.uint32", .uint32(4_000_000_000)), ("t.int32", .int32(-2_000_000_000)),
        ("t.float32", .float32(3.25)), ("t.bool.true", .bool(true)), ("t.bool.false", .bool(false)),
        ("t.string", .string("héllo, 世界 🚀")), ("t.string.empty", .string("")),
        ("t.uint64", .uint64(.max)), ("t.int64", .int64(.min)), ("t.float64", .float64(-1e300)),
        ("t.array.string", .array(elementType: .string, values: [.string("a"), .string(""), .string("Ġt")])),
        ("t.array.int32", .array(elementType: .int32, values: [.int32(1), .int32(-2), .int32(3)])),
        ("t.array.float32", .array(elementType: .float32, values: [.float32(0.5), .float32(-1.5)])),
        ("t.array.bool", .array(elementType: .bool, values: [.bool(true), .bool(false)])),
        ("t.array.empty", .array(elementType: .uint64, values: [])),
        ("t.array.nested", .array(elementType: .array, values: [
            .array(elementType: .uint8, values: [.uint8(1), .uint8(2)]),
            .array(elementType: .string, values: [.string("x")]),
            .array(elementType: .array, values: [.array(elementType: .float64, values: [.float64(2.5)])]),
            .array(elementType: .int16, values: []),
        ])),
    ]

    private func makeWriter(version: UInt32, alignment: Int) throws -> GGUFWriter {
        var writer = GGUFWriter(version: version, alignment: alignment)
        writer.set("general.architecture", .string("test"))
        for (key, value) in Self.allValues { writer.set(key, value) }
        writer.addTensor(name: "a.f32", dims: [3, 2], values: [1, -2, 3.5, 0, 1e-8, -7])
        let q8: [Float] = (0 ..< 64).map { Float($0) / 10 - 3 }
        let q8Bytes = try q8.withUnsafeBufferPointer { try quantize(.q8_0, from: $0.baseAddress!, count: 64) }
        writer.addTensor(name: "b.q8_0", dims: [32, 2, 1], type: .q8_0, bytes: q8Bytes)
        writer.addTensor(name: "c.empty", dims: [0], values: [])
        writer.addTensor(name: "d.scalar", dims: [], values: [42])
        return writer
    }

    private func checkRoundTrip(version: UInt32, alignment: Int) throws {
        let writer = try makeWriter(version: version, alignment: alignment)
        let bytes = writer.serialize()
        let file = try GGUFFile(bytes: bytes)
        XCTAssertEqual(file.version, version)
        XCTAssertEqual(file.alignment, alignment)
        XCTAssertEqual(file.fileSize, bytes.count)

        var expectedKeys = ["general.architecture"] + Self.allValues.map(\.0)
        if alignment != 32 { expectedKeys.insert("general.alignment", at: 0) }
        XCTAssertEqual(file.metadata.map(\.key), expectedKeys)
        for (key, value) in Self.allValues { XCTAssertEqual(file.value(key), value, key) }

        XCTAssertEqual(file.tensors.map(\.name), ["a.f32", "b.q8_0", "c.empty", "d.scalar"])
        XCTAssertEqual(file.tensors.map(\.dims), [[3, 2], [32, 2, 1], [0], []])
        XCTAssertEqual(file.tensors.map(\.type), [.f32, .q8_0, .f32, .f32])
        XCTAssertEqual(file.tensors.map(\.byteCount), [24, 68, 0, 4])
        XCTAssertEqual(file.tensors.map(\.elementCount), [6, 64, 0, 1])
        for t in file.tensors {
            XCTAssertEqual(t.offset % alignment, 0, t.name)
            XCTAssertEqual(file.tensor(named: t.name), t)
        }
        XCTAssertEqual(try file.dequantize(named: "a.f32"), [1, -2, 3.5, 0, 1e-8, -7])
        XCTAssertEqual(try file.dequantize(named: "c.empty"), [])
        XCTAssertEqual(try file.dequantize(named: "d.scalar"), [42])
        let q8 = try file.dequantize(named: "b.q8_0")
        XCTAssertEqual(q8.count, 64)
        XCTAssertEqual(q8[0], -3, accuracy: 3.0 / 254 + 0.01)
        file.withTensorBytes(file.tensors[1]) { raw in XCTAssertEqual(raw.count, 68) }

        // Re-serializing what was read reproduces the file byte for byte.
        var copy = GGUFWriter(version: file.version, alignment: file.alignment)
        for (key, value) in file.metadata { copy.set(key, value) }
        for t in file.tensors {
            copy.addTensor(name: t.name, dims: t.dims, type: t.type, bytes: file.withTensorBytes(t) { Array($0) })
        }
        XCTAssertEqual(copy.serialize(), bytes)
    }

    func testRoundTripV3() throws { try checkRoundTrip(version: 3, alignment: 32) }
    func testRoundTripV2() throws { try checkRoundTrip(version: 2, alignment: 32) }
    func testRoundTripCustomAlignment() throws {
        try checkRoundTrip(version: 3, alignment: 64)
        try checkRoundTrip(version: 3, alignment: 8)
        try checkRoundTrip(version: 2, alignment: 1)
    }

    /// The writer's output equals an image assembled by hand from the format description.
    func testWriterMatchesHandAssembledBytes() {
        var writer = GGUFWriter()
        writer.set("k", .uint32(7))
        writer.set("s", .array(elementType: .string, values: [.string("ab")]))
        writer.addTensor(name: "w", dims: [2], values: [1, 2])

        var raw = GGUFBytes()
        raw.header(tensors: 1, kvs: 2)
        raw.kv("k", type: 4) { $0.u32(7) }
        raw.kv("s", type: 9) { $0.u32(8); $0.u64(1); $0.string("ab") }
        raw.tensorInfo("w", dims: [2], type: 0, offset: 0)
        raw.pad(to: 32)
        raw.f32(1)
        raw.f32(2)
        raw.pad(to: 32)
        XCTAssertEqual(writer.serialize(), raw.bytes)
    }

    func testSetReplacesInPlace() throws {
        var writer = GGUFWriter()
        writer.set("a", .uint8(1))
        writer.set("b", .uint8(2))
        writer.set("a", .string("one"))
        let file = try GGUFFile(bytes: writer.serialize())
        XCTAssertEqual(file.metadata.map(\.key), ["a", "b"])
        XCTAssertEqual(file.value("a"), .string("one"))

        writer.set("general.alignment", .uint32(16))
        XCTAssertEqual(writer.alignment, 16)
        XCTAssertEqual(try GGUFFile(bytes: writer.serialize()).alignment, 16)
    }

    func testWriteToDiskAndOpen() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("gguf-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("model.gguf").path
        let writer = try makeWriter(version: 3, alignment: 32)
        try writer.write(to: path)
        try writer.write(to: path)  // replacing an existing file is fine
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["model.gguf"])
        let file = try GGUFFile.open(path: path)
        XCTAssertEqual(file.path, path)
        XCTAssertEqual(file.tensors.count, 4)
        XCTAssertEqual(try file.dequantize(named: "a.f32"), [1, -2, 3.5, 0, 1e-8, -7])

        XCTAssertThrowsError(try GGUFFile.open(path: directory.appendingPathComponent("missing.gguf").path)) {
            guard case .io = ($0 as? GGUFError)?.kind else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try GGUFFile.open(path: directory.path)) {
            guard case .io = ($0 as? GGUFError)?.kind else { return XCTFail("\($0)") }
        }
        let empty = directory.appendingPathComponent("empty.gguf").path
        XCTAssertTrue(FileManager.default.createFile(atPath: empty, contents: Data()))
        XCTAssertThrowsError(try GGUFFile.open(path: empty)) {
            XCTAssertEqual(($0 as? GGUFError)?.kind, .truncated(offset: 0, needed: 4, fileSize: 0))
        }
    }

    func testTypedAccessors() throws {
        var writer = GGUFWriter()
        writer.set("i", .uint32(30))
        writer.set("big", .uint64(.max))
        writer.set("f", .float32(1e-5))
        writer.set("d", .float64(0.25))
        writer.set("s", .string("llama"))
        writer.set("b", .bool(true))
        writer.set("ss", .array(elementType: .string, values: [.string("x"), .string("y")]))
        writer.set("ii", .array(elementType: .int32, values: [.int32(3), .int32(-1)]))
        writer.set("ff", .array(elementType: .float32, values: [.float32(0.5)]))
        let file = try GGUFFile(bytes: writer.serialize(), path: "m.gguf")

        XCTAssertEqual(try file.int("i"), 30)
        XCTAssertEqual(try file.float("f"), 1e-5)
        XCTAssertEqual(try file.float("d"), 0.25)
        XCTAssertEqual(try file.float("i"), 30)
        XCTAssertEqual(try file.string("s"), "llama")
        XCTAssertEqual(try file.bool("b"), true)
        XCTAssertEqual(try file.stringArray("ss"), ["x", "y"])
        XCTAssertEqual(try file.intArray("ii"), [3, -1])
        XCTAssertEqual(try file.floatArray("ff"), [0.5])
        XCTAssertEqual(try file.floatArray("ii"), [3, -1])
        XCTAssertEqual(try file.optionalInt("i"), 30)
        XCTAssertNil(try file.optionalInt("nope"))
        XCTAssertNil(try file.optionalFloat("nope"))
        XCTAssertNil(try file.optionalString("nope"))
        XCTAssertNil(try file.optionalBool("nope"))

        func expect<T>(_ body: @autoclosure () throws -> T, field: String, _ kind: GGUFError.Kind, line: UInt = #line) {
            XCTAssertThrowsError(try body(), line: line) {
                XCTAssertEqual($0 as? GGUFError, GGUFError(file: "m.gguf", field: field, kind: kind), line: line)
            }
        }
        expect(try file.int("nope"), field: "nope", .missingKey)
        expect(try file.int("s"), field: "s", .typeMismatch(expected: "integer", found: "string"))
        expect(try file.optionalString("i"), field: "i", .typeMismatch(expected: "string", found: "uint32"))
        expect(try file.bool("i"), field: "i", .typeMismatch(expected: "bool", found: "uint32"))
        expect(try file.optionalBool("s"), field: "s", .typeMismatch(expected: "bool", found: "string"))
        expect(try file.float("s"), field: "s", .typeMismatch(expected: "float32, float64 or integer", found: "string"))
        expect(try file.stringArray("ii"), field: "ii", .typeMismatch(expected: "array[string]", found: "array[int32]"))
        expect(try file.intArray("ss"), field: "ss", .typeMismatch(expected: "array of integers", found: "array[string]"))
        expect(try file.dequantize(named: "nope"), field: "tensor nope", .missingKey)
        XCTAssertThrowsError(try file.int("big")) {
            guard case .outOfRange = ($0 as? GGUFError)?.kind else { return XCTFail("\($0)") }
        }
    }
}
