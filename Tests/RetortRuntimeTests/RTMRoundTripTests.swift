@testable import RetortRuntime
import XCTest

/// Writer → bytes → reader gives back every metadata value and every tensor exactly.
final class RTMRoundTripTests: XCTestCase {
    func testEveryValueTypeRoundTrips() throws {
        let values: [(String, RTMValue)] = [
            ("int.zero", .int(0)),
            ("int.min", .int(Int64.min)),
            ("int.max", .int(Int64.max)),
            ("float.pi", .float(3.141592653589793)),
            ("float.negzero", .float(-0.0)),
            ("float.inf", .float(-Double.infinity)),
            ("float.tiny", .float(Double.leastNonzeroMagnitude)),
            ("bool.true", .bool(true)),
            ("bool.false", .bool(false)),
            ("string.empty", .string("")),
            ("string.unicode", .string("héllo wörld 日本語 🌍 Ġthe\u{0}end")),
            ("string.seven", .string("1234567")),
            ("ints.empty", .ints([])),
            ("ints", .ints([1, -1, Int64.min, Int64.max, 0])),
            ("floats.empty", .floats([])),
            ("floats.odd", .floats([1.5, -0.0, Float.leastNonzeroMagnitude, Float.greatestFiniteMagnitude, -Float.infinity])),
            ("strings.empty", .strings([])),
            ("strings", .strings(["", "a", "Ġthe", "日本", "🌍🌍", "", "x"])),
            ("键.ключ", .int(7)),  // a non-ASCII key
        ]
        var writer = RTMWriter()
        for (key, value) in values { writer.set(key, value) }
        let file = try RTMFile(bytes: writer.serialize())
        XCTAssertEqual(file.metadata.map(\.key), values.map(\.0))
        XCTAssertEqual(file.metadata.map(\.value), values.map(\.1))
        for (key, value) in values { XCTAssertEqual(file.value(key), value, key) }
        XCTAssertNil(file.value("missing"))
        XCTAssertTrue(file.tensors.isEmpty)
        XCTAssertEqual(file.version.major, 1)
        XCTAssertEqual(file.version.minor, 1)
    }

    func testNaNBitPatternsSurvive() throws {
        let nan = Float(bitPattern: 0x7FC0_1234)
        var writer = RTMWriter()
        writer.set("f", .floats([nan]))
        writer.set("d", .float(Double(bitPattern: 0x7FF8_0000_0000_BEEF)))
        let file = try RTMFile(bytes: writer.serialize())
        guard case .floats(let floats) = file.value("f"), case .float(let double) = file.value("d") else {
            return XCTFail("wrong types")
        }
        XCTAssertEqual(floats.map(\.bitPattern), [0x7FC0_1234])
        XCTAssertEqual(double.bitPattern, 0x7FF8_0000_0000_BEEF)
    }

    func testSetReplacesAndKeepsOrder() throws {
        var writer = RTMWriter()
        writer.set("a", .int(1))
        writer.set("b", .int(2))
        writer.set("a", .string("again"))
        let file = try RTMFile(bytes: writer.serialize())
        XCTAssertEqual(file.metadata.map(\.key), ["a", "b"])
        XCTAssertEqual(file.value("a"), .string("again"))
    }

    func testEveryDTypeRoundTrips() throws {
        // f16 bit patterns: ±0, 1, ±inf, NaN, smallest subnormal, largest finite, -2.
        let halves: [UInt16] = [0x0000, 0x8000, 0x3C00, 0x7C00, 0xFC00, 0x7E00, 0x0001, 0x7BFF, 0xC000, 0x7E01, 0x03FF, 0x1234]
        let halfBytes = halves.flatMap { rtmLE($0) }
        let f32Values: [Float] = (0 ..< 24).map { Float($0) * 0.5 - 3 }
        let perChannel = (0 ..< 3 * 20).map { UInt8(bitPattern: Int8(($0 % 255) - 127)) }
        let perGroup = (0 ..< 64 * 2 * 2).map { UInt8(bitPattern: Int8(truncatingIfNeeded: $0 * 37)) }
        let groupScales: [Float] = (0 ..< 2 * 2 * 4).map { Float($0 + 1) / 64 }

        var writer = RTMWriter()
        writer.set("model.architecture", .string("llama"))
        writer.addTensor(name: "f32.rank3", dtype: .f32, dims: [4, 3, 2], data: RTMFixtures.floatBytes(f32Values))
        writer.addTensor(name: "f16.rank1", dtype: .f16, dims: [12], data: halfBytes)
        writer.addTensor(name: "blk.0.attn_q.weight", dtype: .int8PerChannel, dims: [20, 3], data: perChannel,
                         scales: [0.5, 0.25, 0.125])
        writer.addTensor(name: "g.rank4", dtype: .int8PerGroup, dims: [64, 2, 2, 1], data: perGroup,
                         scales: groupScales, groupSize: 16, activationScale: 0.0625)
        writer.addTensor(name: "scalar", dtype: .int8PerChannel, dims: [1], data: [0x81], scales: [2])
        let bytes = writer.serialize()

        for verify in [true, false] {
            let file = try RTMFile(bytes: bytes, verifyTensorChecksums: verify)
            XCTAssertEqual(file.tensors.map(\.name), ["f32.rank3", "f16.rank1", "blk.0.attn_q.weight", "g.rank4", "scalar"])
            XCTAssertEqual(file.alignment, 64)

            let a = try XCTUnwrap(file.tensor(named: "f32.rank3"))
            XCTAssertEqual(a.dtype, .f32)
            XCTAssertEqual(a.dims, [4, 3, 2])
            XCTAssertEqual(a.elementCount, 24)
            XCTAssertEqual(a.rowCount, 6)
            XCTAssertEqual(Array(UnsafeBufferPointer(start: a.data.assumingMemoryBound(to: Float.self), count: 24)), f32Values)
            XCTAssertNil(a.scales)
            XCTAssertEqual(a.scaleCount, 0)
            XCTAssertEqual(a.groupSize, 0)
            XCTAssertEqual(a.activationScale, 0)

            let h = try XCTUnwrap(file.tensor(named: "f16.rank1"))
            XCTAssertEqual(h.dtype, .f16)
            XCTAssertEqual(h.dataBytes, 24)
            XCTAssertEqual(Array(h.bytes), halfBytes)
            XCTAssertEqual(Array(UnsafeBufferPointer(start: h.data.assumingMemoryBound(to: UInt16.self), count: 12)), halves)

            let q = try XCTUnwrap(file.tensor(named: "blk.0.attn_q.weight"))
            XCTAssertEqual(q.dtype, .int8PerChannel)
            XCTAssertEqual(Array(q.bytes), perChannel)
            XCTAssertEqual(Array(q.scaleBuffer), [0.5, 0.25, 0.125])
            XCTAssertEqual(q.groupSize, 0)

            let g = try XCTUnwrap(file.tensor(named: "g.rank4"))
            XCTAssertEqual(g.dtype, .int8PerGroup)
            XCTAssertEqual(g.dims, [64, 2, 2, 1])
            XCTAssertEqual(Array(g.bytes), perGroup)
            XCTAssertEqual(g.scaleCount, 16)
            XCTAssertEqual(Array(g.scaleBuffer), groupScales)
            XCTAssertEqual(g.groupSize, 16)
            XCTAssertEqual(g.activationScale, 0.0625)

            let s = try XCTUnwrap(file.tensor(named: "scalar"))
            XCTAssertEqual(Array(s.bytes), [0x81])
            XCTAssertEqual(Array(s.scaleBuffer), [2])

            for tensor in file.tensors {
                XCTAssertEqual(Int(bitPattern: tensor.data) % 64, 0, "\(tensor.name) data is aligned in memory")
                if let scales = tensor.scales { XCTAssertEqual(Int(bitPattern: scales) % 64, 0, "\(tensor.name) scales") }
            }
            XCTAssertNil(file.tensor(named: "missing"))
        }
    }

    func testEmptyFileIsValid() throws {
        let bytes = RTMWriter().serialize()
        XCTAssertEqual(bytes.count, 128)
        let file = try RTMFile(bytes: bytes)
        XCTAssertTrue(file.metadata.isEmpty)
        XCTAssertTrue(file.tensors.isEmpty)
        XCTAssertEqual(file.fileSize, 128)
    }

    /// The model and tokenizer keys of the spec, read back with the typed accessors.
    func testTypedAccessors() throws {
        var w = RTMWriter()
        w.set("model.architecture", .string("llama"))
        w.set("llama.block_count", .int(30))
        w.set("llama.rope.freq_base", .float(100_000))
        w.set("llama.tied_embeddings", .bool(true))
        w.set("tokenizer.tokens", .strings(["<|endoftext|>", "Ġthe"]))
        w.set("tokenizer.token_types", .ints([3, 1]))
        w.set("norms", .floats([1, 2]))
        let file = try RTMFile(bytes: w.serialize(), name: "model.rtm")
        XCTAssertEqual(try file.string("model.architecture"), "llama")
        XCTAssertEqual(try file.int("llama.block_count"), 30)
        XCTAssertEqual(try file.float("llama.rope.freq_base"), 100_000)
        XCTAssertEqual(try file.bool("llama.tied_embeddings"), true)
        XCTAssertEqual(try file.strings("tokenizer.tokens"), ["<|endoftext|>", "Ġthe"])
        XCTAssertEqual(try file.ints("tokenizer.token_types"), [3, 1])
        XCTAssertEqual(try file.floats("norms"), [1, 2])
        XCTAssertEqual(try file.optionalInt("llama.block_count"), 30)
        XCTAssertNil(try file.optionalInt("tokenizer.bos_id"))
        XCTAssertNil(try file.optionalFloat("x"))
        XCTAssertNil(try file.optionalString("x"))
        XCTAssertNil(try file.optionalBool("x"))

        func assertFails(_ body: () throws(RTMError) -> Void, field: String, message: String,
                         line: UInt = #line) {
            do {
                try body()
                XCTFail("no error", line: line)
            } catch {
                XCTAssertEqual(error, RTMError(file: "model.rtm", field: field, message: message), line: line)
                XCTAssertEqual(error.description, "model.rtm: \(field): \(message)", line: line)
            }
        }
        assertFails({ () throws(RTMError) in _ = try file.int("tokenizer.bos_id") }, field: "tokenizer.bos_id", message: "not found")
        assertFails({ () throws(RTMError) in _ = try file.int("model.architecture") }, field: "model.architecture", message: "expected int, found string")
        assertFails({ () throws(RTMError) in _ = try file.float("llama.block_count") }, field: "llama.block_count", message: "expected float, found int")
        assertFails({ () throws(RTMError) in _ = try file.optionalBool("norms") }, field: "norms", message: "expected bool, found floats")
        assertFails({ () throws(RTMError) in _ = try file.strings("tokenizer.token_types") }, field: "tokenizer.token_types", message: "expected strings, found ints")
        assertFails({ () throws(RTMError) in _ = try file.stringElements("tokenizer.token_types") }, field: "tokenizer.token_types", message: "expected strings, found ints")
        assertFails({ () throws(RTMError) in _ = try file.stringElements("model.architecture") }, field: "model.architecture", message: "expected strings, found string")
        assertFails({ () throws(RTMError) in _ = try file.stringElements("x") }, field: "x", message: "not found")
        XCTAssertEqual(file.metadataCount, 7)
    }

    /// A `strings` value read in place gives the same bytes as the decoded one, element by element.
    func testStringElementsAreViewsOfTheSameBytes() throws {
        let strings = ["", "a", "Ġthe", "日本", "🌍🌍", "", "x", String(repeating: "long token ", count: 9)]
        var w = RTMWriter()
        w.set("before", .ints([1, 2, 3]))
        w.set("tokenizer.tokens", .strings(strings))
        w.set("after", .string("end"))
        let file = try RTMFile(bytes: w.serialize())
        let elements = try file.stringElements("tokenizer.tokens")
        XCTAssertEqual(elements.map { Array($0) }, strings.map { Array($0.utf8) })
        XCTAssertEqual(try file.strings("tokenizer.tokens"), strings)
        XCTAssertEqual(try file.ints("before"), [1, 2, 3])
        XCTAssertEqual(try file.string("after"), "end")
    }
}
