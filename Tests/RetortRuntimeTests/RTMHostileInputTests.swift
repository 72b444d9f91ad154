@testable import RetortRuntime
import XCTest

/// Malformed and malicious `.rtm` files: each is rejected with an `RTMError` naming the field,
/// never a crash. Edits go through `RTMImage`, which re-seals the checksums so each hostile value
/// reaches the check it targets.
final class RTMHostileInputTests: XCTestCase {
    private let valid = RTMFixtures.small()

    private func image() -> RTMImage { RTMImage(bytes: valid) }

    private func rejectsRecord(_ i: Int, field: String, message: String? = nil, line: UInt = #line,
                               _ edit: (inout RTMTensorRecord) -> Void) {
        var image = image()
        image.editRecord(i, edit)
        rtmAssertRejects(image.bytes, field: field, message: message, line: line)
    }

    private func rejectsHeader(field: String, message: String? = nil, line: UInt = #line,
                               _ edit: (inout RTMFileHeader) -> Void) {
        var image = image()
        image.editHeader(edit)
        rtmAssertRejects(image.bytes, field: field, message: message, line: line)
    }

    func testBaselineIsValid() throws {
        let file = try RTMFile(bytes: valid)
        XCTAssertEqual(file.tensors.count, 4)
        XCTAssertEqual(file.metadata.count, 5)
    }

    // MARK: Magic and version

    func testBadMagic() {
        var bytes = valid
        bytes[1] = 0x53
        rtmAssertRejects(bytes, field: "header.magic", message: "bad magic 89 53 54 4D 0D 0A 1A 0A")
        rtmAssertRejects(Array("GGUF\u{3}\0\0\0 padding padding".utf8), field: "header.magic", message: "GGUF file")
        rtmAssertRejects([0x89, 0x52, 0x54], field: "header.magic", message: "too short")
        rtmAssertRejects([], field: "header.magic")
    }

    func testFutureMajorVersionIsRejected() {
        rejectsHeader(field: "header.versionMajor", message: "unsupported version 2.1; this reader knows 1.x") { $0.versionMajor = 2 }
        rejectsHeader(field: "header.versionMajor", message: "unsupported version 0.1") { $0.versionMajor = 0 }
        rejectsHeader(field: "header.versionMajor", message: "byte-swapped") { $0.versionMajor = 0x0100 }
        // Rejected on the version alone, even when the rest of the header is garbage.
        var bytes = valid
        bytes[8] = 3
        bytes.replaceSubrange(12 ..< 128, with: [UInt8](repeating: 0xEE, count: 116))
        rtmAssertRejects(bytes, field: "header.versionMajor", message: "3.1")
    }

    func testNewerMinorVersionIsAcceptedAndItsReservedBytesIgnored() throws {
        var image = image()
        image.editHeader { $0.versionMinor = 7; $0.flags = 1; $0.reserved1 = 9 }
        image.editRecord(2) { $0.reserved1 = 5 }
        let file = try RTMFile(bytes: image.bytes)
        XCTAssertEqual(file.version.minor, 7)
        XCTAssertEqual(file.tensors.count, 4)
    }

    func testReservedBytesMustBeZeroInKnownVersions() {
        rejectsHeader(field: "header.flags") { $0.flags = 1 }
        rejectsHeader(field: "header.reserved") { $0.reserved0 = 1 }
        rejectsHeader(field: "header.reserved") { $0.reserved1 = 1 }
        rejectsRecord(2, field: "tensor[2] (q8).reserved") { $0.reserved2 = 1 }
    }

    // MARK: Truncation and single-byte damage

    /// Every strict prefix fails (never crashes), and so does one extra byte.
    func testTruncatedAtEveryLength() {
        for length in 0 ..< valid.count {
            XCTAssertThrowsError(try RTMFile(bytes: Array(valid[0 ..< length])), "prefix of \(length) bytes accepted")
        }
        rtmAssertRejects(Array(valid[0 ..< valid.count - 1]), field: "header.fileSize", message: "truncated")
        rtmAssertRejects(Array(valid[0 ..< 100]), field: "header", message: "too short for the 128-byte header")
        rtmAssertRejects(valid + [0], field: "header.fileSize", message: "trailing bytes")
    }

    func testChecksumMismatchNamesTheSection() {
        let h = image().header
        func flipped(_ offset: Int) -> [UInt8] {
            var bytes = valid
            bytes[offset] ^= 0x10
            return bytes
        }
        rtmAssertRejects(flipped(40), field: "header.headerChecksum", message: "header checksum mismatch")    // metadataSize
        rtmAssertRejects(flipped(16), field: "header.headerChecksum")                                       // alignment
        rtmAssertRejects(flipped(125), field: "header.headerChecksum")                                     // the checksum itself
        rtmAssertRejects(flipped(Int(h.metadataOffset) + 20), field: "header.metadataChecksum", message: "metadata section checksum mismatch")
        rtmAssertRejects(flipped(Int(h.tableOffset) + 128 + 50), field: "header.tableChecksum", message: "tensor table checksum mismatch")
        rtmAssertRejects(flipped(Int(h.tableOffset + h.tableSize) - 9), field: "header.tableChecksum")  // the name pool

        let half = image().record(1), q8 = image().record(2)
        rtmAssertRejects(flipped(Int(half.dataOffset) + 31), field: "tensor[1] (half).dataChecksum", message: "tensor data checksum mismatch")
        rtmAssertRejects(flipped(Int(q8.scaleOffset) + 5), field: "tensor[2] (q8).scaleChecksum", message: "tensor scales checksum mismatch")
        // Skipping tensor checksums accepts damaged data, but never damaged structure.
        XCTAssertNoThrow(try RTMFile(bytes: flipped(Int(half.dataOffset) + 31), verifyTensorChecksums: false))
        XCTAssertNoThrow(try RTMFile(bytes: flipped(Int(q8.scaleOffset) + 5), verifyTensorChecksums: false))
        rtmAssertRejects(flipped(Int(h.tableOffset) + 3), field: "header.tableChecksum", verifyTensorChecksums: false)
    }

    /// Flipping any byte of a checksummed range is caught; flipping padding between them is harmless.
    func testEverySingleByteFlip() {
        let h = image().header
        var covered = [Bool](repeating: false, count: valid.count)
        func cover(_ start: UInt64, _ count: UInt64) { for i in Int(start) ..< Int(start + count) { covered[i] = true } }
        cover(0, 128)
        cover(h.metadataOffset, h.metadataSize)
        cover(h.tableOffset, h.tableSize)
        for i in 0 ..< 4 {
            let r = image().record(i)
            cover(r.dataOffset, r.dataSize)
            cover(r.scaleOffset, 4 * r.scaleCount)
        }
        for position in valid.indices {
            var bytes = valid
            bytes[position] ^= 0x01
            do {
                _ = try RTMFile(bytes: bytes)
                XCTAssertFalse(covered[position], "flip at \(position) accepted")
            } catch {
                XCTAssertTrue(covered[position], "flip in padding at \(position) rejected: \(error)")
            }
        }
    }

    /// Random garbage written into the table and metadata, re-sealed so it passes the checksums:
    /// the reader must reject or accept it, never crash.
    func testRandomStructuralGarbageNeverCrashes() {
        var rng = SplitMix(seed: 0x5EED)
        let h = image().header
        var rejected = 0
        for iteration in 0 ..< 600 {
            var image = image()
            let edits = 1 + Int(rng.next() % 4)
            if iteration % 2 == 0 {
                image.editTable { section in
                    for _ in 0 ..< edits {
                        let position = Int(rng.next() % UInt64(section.count))
                        section[position] = rng.interestingByte()
                    }
                }
            } else {
                image.editMetadata { section in
                    for _ in 0 ..< edits {
                        let position = Int(rng.next() % h.metadataSize)
                        section[position] = rng.interestingByte()
                    }
                }
            }
            do { _ = try RTMFile(bytes: image.bytes) } catch { rejected += 1 }
        }
        XCTAssertGreaterThan(rejected, 300)
    }

    // MARK: Header fields

    func testHeaderFieldsAreChecked() {
        let h = image().header
        rejectsHeader(field: "header.alignment", message: "power of two") { $0.alignment = 48 }
        rejectsHeader(field: "header.alignment") { $0.alignment = 32 }
        rejectsHeader(field: "header.alignment") { $0.alignment = 1 << 20 }
        rejectsHeader(field: "header.metadataOffset") { $0.metadataOffset = 64 }
        rejectsHeader(field: "header.metadataOffset", message: "multiple of 8") { $0.metadataOffset = 132 }
        rejectsHeader(field: "header.metadataSize", message: "past the end") { $0.metadataSize = UInt64.max }
        rejectsHeader(field: "header.tableOffset") { $0.tableOffset = h.metadataOffset + 8 }
        rejectsHeader(field: "header.tableOffset") { $0.tableOffset = UInt64.max }
        rejectsHeader(field: "header.dataOffset", message: "multiple of 64") { $0.dataOffset += 8; $0.dataSize -= 8 }
        rejectsHeader(field: "header.dataSize", message: "not at the end of the file") { $0.dataSize -= 64 }
        rejectsHeader(field: "header.dataSize") { $0.dataSize += 1 }
        rejectsHeader(field: "header.metadataCount", message: "cannot fit") { $0.metadataCount = UInt64.max }
        rejectsHeader(field: "header.tensorCount", message: "do not fit") { $0.tensorCount = 1 << 40 }
    }

    // MARK: Metadata
    //
    // The fixture's metadata section (216 bytes): [0] model.architecture string "llama" at 0
    // (entry header 16, key 24, payload 8); [1] llama.block_count int at 48; [2] tokenizer.tokens
    // strings ["a", "Ġb", ""] at 96 (lengths at 128, bytes at 144); [3] eps float at 152;
    // [4] tied bool at 184 (payload at 208).

    private func rejectsMetadata(field: String, message: String? = nil, line: UInt = #line,
                                 _ edit: (inout [UInt8]) -> Void) {
        var image = image()
        XCTAssertEqual(image.header.metadataSize, 216, "fixture layout changed", line: line)
        image.editMetadata(edit)
        rtmAssertRejects(image.bytes, field: field, message: message, line: line)
    }

    private func put<T: FixedWidthInteger>(_ value: T, at offset: Int, in bytes: inout [UInt8]) {
        bytes.replaceSubrange(offset ..< offset + MemoryLayout<T>.size, with: rtmLE(value))
    }

    func testMetadataEntriesAreChecked() {
        rejectsMetadata(field: "metadata[0] (model.architecture).valueType", message: "unknown value type 99") { put(UInt32(99), at: 4, in: &$0) }
        rejectsMetadata(field: "metadata[0] (model.architecture).valueCount", message: "do not fit") { put(UInt64.max, at: 8, in: &$0) }
        rejectsMetadata(field: "metadata[0] (model.architecture).value", message: "not valid UTF-8") { $0[41] = 0xFF }
        rejectsMetadata(field: "metadata[0].keyLength") { put(UInt32(0), at: 0, in: &$0) }
        rejectsMetadata(field: "metadata[0].keyLength") { put(UInt32(5000), at: 0, in: &$0) }
        rejectsMetadata(field: "metadata[0].key", message: "needs") { put(UInt32(1000), at: 0, in: &$0) }
        rejectsMetadata(field: "metadata[0].key", message: "not valid UTF-8") { $0[16] = 0xC0 }
        rejectsMetadata(field: "metadata[1] (llama.block_count).valueCount", message: "count 1") { put(UInt64(2), at: 56, in: &$0) }
        rejectsMetadata(field: "metadata[2] (tokenizer.tokens).value[0]", message: "not valid UTF-8") { $0[144] = 0xFF }
        rejectsMetadata(field: "metadata[2] (tokenizer.tokens).value[1]", message: "not valid UTF-8") { $0[146] = 0x41 }
        rejectsMetadata(field: "metadata[2] (tokenizer.tokens).value[0]", message: "needs") { put(UInt32.max, at: 128, in: &$0) }
        rejectsMetadata(field: "metadata[2] (tokenizer.tokens).valueCount") { put(UInt64(1) << 62, at: 104, in: &$0) }
        rejectsMetadata(field: "metadata[4] (tied).value", message: "0 or 1") { $0[208] = 2 }
    }

    func testMetadataCountMustMatchTheSection() {
        rejectsHeader(field: "metadata[5]", message: "needs 16 bytes") { $0.metadataCount = 6 }
        rejectsHeader(field: "metadata", message: "after the last of 4 entries") { $0.metadataCount = 4 }
    }

    func testDuplicateKeyIsRejected() {
        var writer = RTMWriter()
        writer.set("k1", .int(1))
        writer.set("k2", .int(2))
        var image = RTMImage(bytes: writer.serialize())
        image.editMetadata { $0[32 + 17] = UInt8(ascii: "1") }  // entry 1 at 32: header 16, key "k2"
        rtmAssertRejects(image.bytes, field: "metadata[1] (k1)", message: "duplicate key")
    }

    // MARK: Tensor records

    func testOverlappingTensorsAreRejected() {
        let tok = image().record(0)
        rejectsRecord(1, field: "tensor[1] (half).dataOffset", message: "overlap the data of tensor[0] (tok)") {
            $0.dataOffset = tok.dataOffset + 64
        }
        rejectsRecord(3, field: "tensor[3] (g).scaleOffset", message: "overlap the data of tensor[0] (tok)") {
            $0.scaleOffset = tok.dataOffset + 64
        }
        let q8 = image().record(2)
        rejectsRecord(3, field: "tensor[3] (g).dataOffset", message: "overlap the scales of tensor[2] (q8)") {
            $0.dataOffset = q8.scaleOffset
            $0.dataChecksum = q8.scaleChecksum
        }
    }

    func testOutOfRangeOffsetsAreRejected() {
        let h = image().header
        rejectsRecord(0, field: "tensor[0] (tok).dataOffset", message: "outside the data section") { $0.dataOffset = h.fileSize }
        rejectsRecord(0, field: "tensor[0] (tok).dataOffset") { $0.dataOffset = UInt64.max }
        rejectsRecord(0, field: "tensor[0] (tok).dataOffset") { $0.dataOffset = h.tableOffset }  // before the data section
        rejectsRecord(0, field: "tensor[0] (tok).dataOffset") { $0.dataOffset = 0 }
        rejectsRecord(3, field: "tensor[3] (g).dataOffset") { $0.dataOffset = h.fileSize - 63 }  // runs past the end
        rejectsRecord(2, field: "tensor[2] (q8).scaleOffset") { $0.scaleOffset = h.fileSize + 64 }
        rejectsRecord(2, field: "tensor[2] (q8).scaleOffset") { $0.scaleOffset = 1 << 63 }
    }

    func testMisalignedDataIsRejected() {
        rejectsRecord(0, field: "tensor[0] (tok).dataOffset", message: "not a multiple of the alignment 64") { $0.dataOffset += 4 }
        rejectsRecord(2, field: "tensor[2] (q8).scaleOffset", message: "alignment 64") { $0.scaleOffset -= 4 }
    }

    func testDimsAreChecked() {
        rejectsRecord(0, field: "tensor[0] (tok).dims", message: "element count overflows") {
            $0.rank = 3
            $0.dims = [1 << 32, 1 << 32, 1 << 32]
        }
        rejectsRecord(0, field: "tensor[0] (tok).dims", message: "byte count overflows") { $0.dims = [1 << 61, 2] }
        rejectsRecord(0, field: "tensor[0] (tok).dims[0]") { $0.dims = [UInt64.max, 4] }
        rejectsRecord(0, field: "tensor[0] (tok).dims[1]") { $0.dims = [8, 0] }
        rejectsRecord(1, field: "tensor[1] (half).dims[1]", message: "beyond rank 1 must be 0") { $0.dim1 = 5 }
        rejectsRecord(0, field: "tensor[0] (tok).rank") { $0.rank = 0 }
        rejectsRecord(0, field: "tensor[0] (tok).rank") { $0.rank = 5 }
        rejectsRecord(0, field: "tensor[0] (tok).dataSize", message: "expected 128 for f32 [8, 4]") { $0.dataSize = 127 }
        rejectsRecord(0, field: "tensor[0] (tok).dataSize") { $0.dims = [8, 8] }
    }

    func testUnknownDTypeIsRejected() {
        rejectsRecord(0, field: "tensor[0] (tok).dtype", message: "unknown dtype 9") { $0.dtype = 9 }
        rejectsRecord(0, field: "tensor[0] (tok).dtype", message: "unknown dtype 4294967295") { $0.dtype = UInt32.max }
    }

    func testBadGroupSizeIsRejected() {
        rejectsRecord(3, field: "tensor[3] (g).groupSize", message: "power of two") { $0.groupSize = 24 }
        rejectsRecord(3, field: "tensor[3] (g).groupSize") { $0.groupSize = 8 }
        rejectsRecord(3, field: "tensor[3] (g).groupSize", message: "dividing dims[0] = 32") { $0.groupSize = 64 }
        rejectsRecord(3, field: "tensor[3] (g).groupSize") { $0.groupSize = 0 }
        rejectsRecord(2, field: "tensor[2] (q8).groupSize", message: "must be 0 for int8PerChannel") { $0.groupSize = 16 }
        rejectsRecord(0, field: "tensor[0] (tok).groupSize") { $0.groupSize = 16 }
        // A valid but different group size changes the scale count.
        rejectsRecord(3, field: "tensor[3] (g).scaleCount", message: "expected 2 for int8PerGroup [32, 2] with group size 32") {
            $0.groupSize = 32
        }
    }

    func testScaleCountMismatchIsRejected() {
        rejectsRecord(2, field: "tensor[2] (q8).scaleCount", message: "4 scales, expected 3") { $0.scaleCount = 4 }
        rejectsRecord(3, field: "tensor[3] (g).scaleCount") { $0.scaleCount = UInt64.max }
        rejectsRecord(0, field: "tensor[0] (tok).scaleCount") { $0.scaleCount = 1 }
        rejectsRecord(0, field: "tensor[0] (tok).scaleOffset", message: "no scales") { $0.scaleOffset = 64 }
    }

    func testActivationScaleIsChecked() {
        rejectsRecord(3, field: "tensor[3] (g).activationScale") { $0.activationScale = -1 }
        rejectsRecord(3, field: "tensor[3] (g).activationScale") { $0.activationScale = .nan }
        rejectsRecord(3, field: "tensor[3] (g).activationScale") { $0.activationScale = .infinity }
    }

    func testActivationDigitsAreChecked() throws {
        rejectsRecord(2, field: "tensor[2] (q8).activationDigits", message: "not 0") { $0.activationDigits = 3 }
        rejectsRecord(2, field: "tensor[2] (q8).activationDigits", message: "not 0") { $0.activationDigits = 1 }
        rejectsRecord(0, field: "tensor[0] (tok).activationDigits", message: "int8") { $0.activationDigits = 2 }
        rejectsRecord(3, field: "tensor[3] (g).activationDigits", message: "activationScale") { $0.activationDigits = 2 }
        // Reserved in 1.0: a 1.0 file may not set it.
        var old = image()
        old.editHeader { $0.versionMinor = 0 }
        old.editRecord(2) { $0.activationDigits = 2 }
        rtmAssertRejects(old.bytes, field: "tensor[2] (q8).activationDigits", message: "reserved")
        // A valid use.
        var ok = image()
        ok.editRecord(2) { $0.activationDigits = 2 }
        let file = try RTMFile(bytes: ok.bytes)
        XCTAssertEqual(file.tensor(named: "q8")?.activationDigits, 2)
        XCTAssertEqual(file.tensor(named: "g")?.activationDigits, 1)
    }

    func testTensorNamesAreChecked() {
        let tok = image().record(0)
        rejectsRecord(0, field: "tensor[0].nameLength") { $0.nameLength = 0 }
        rejectsRecord(0, field: "tensor[0].nameLength") { $0.nameLength = 5000 }
        rejectsRecord(0, field: "tensor[0].nameOffset", message: "name pool") { $0.nameOffset = 15 }
        rejectsRecord(0, field: "tensor[0].nameOffset") { $0.nameOffset = UInt32.max; $0.nameLength = 2 }
        rejectsRecord(1, field: "tensor[1] (tok).name", message: "duplicate tensor name") {
            $0.nameOffset = tok.nameOffset
            $0.nameLength = tok.nameLength
        }
        var image = image()
        image.editTable { $0[4 * 128] = 0xFF }  // first byte of the name pool ("tok")
        rtmAssertRejects(image.bytes, field: "tensor[0].name", message: "not valid UTF-8")
    }
}

/// A small seeded generator for reproducible fuzzing.
private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Bytes that tend to hit edge cases: 0, 1, 0x7F, 0x80, 0xFF, or anything.
    mutating func interestingByte() -> UInt8 {
        let choices: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF, 0x40]
        let pick = next()
        return pick % 3 == 0 ? UInt8(truncatingIfNeeded: pick >> 8) : choices[Int((pick >> 8) % UInt64(choices.count))]
    }
}
