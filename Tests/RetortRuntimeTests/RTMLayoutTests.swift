@testable import RetortRuntime
import XCTest

/// The on-disk records: sizes pinned, encoding explicit little-endian at the offsets the spec
/// (formats/rtm.md) gives, and — on this little-endian host — identical to the Swift struct's
/// memory, which proves the field order in `code(_:)` matches the declaration order.
final class RTMLayoutTests: XCTestCase {
    /// Gives every field a distinct value: byte k of field n is (n << 3 | k) (n < 32 fields, k < 8
    /// bytes), so any misplaced or byte-swapped field shows up.
    private struct Filler: RTMFieldCoder {
        var field: UInt64 = 1
        mutating func next(_ size: Int) -> UInt64 {
            defer { field += 1 }
            var value: UInt64 = 0
            precondition(field < 32, "Filler: more than 31 fields")
            for k in 0 ..< size { value |= ((field << 3) | UInt64(k)) << (8 * UInt64(k)) }
            return value
        }
        mutating func code(_ value: inout UInt16) { value = UInt16(next(2)) }
        mutating func code(_ value: inout UInt32) { value = UInt32(next(4)) }
        mutating func code(_ value: inout UInt64) { value = next(8) }
    }

    private func filled<R: RTMRecord>(_: R.Type) -> R {
        var record = R()
        var filler = Filler()
        record.code(&filler)
        return record
    }

    private func assertEncodingEqualsMemory<R: RTMRecord & Equatable>(_ type: R.Type, size: Int,
                                                                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(MemoryLayout<R>.size, size, file: file, line: line)
        XCTAssertEqual(MemoryLayout<R>.stride, size, file: file, line: line)
        let record = filled(R.self)
        let encoded = record.encoded()
        XCTAssertEqual(encoded.count, size, file: file, line: line)
        XCTAssertEqual(withUnsafeBytes(of: record) { Array($0) }, encoded, "memory layout differs from the encoding", file: file, line: line)
        XCTAssertEqual(encoded.withUnsafeBytes { R.decode($0, at: 0) }, record, file: file, line: line)
    }

    func testRecordSizesArePinned() {
        XCTAssertEqual(RTMLayout.headerSize, 128)
        XCTAssertEqual(RTMLayout.tensorRecordSize, 128)
        XCTAssertEqual(RTMLayout.metadataEntryHeaderSize, 16)
        assertEncodingEqualsMemory(RTMFileHeader.self, size: RTMLayout.headerSize)
        assertEncodingEqualsMemory(RTMTensorRecord.self, size: RTMLayout.tensorRecordSize)
        assertEncodingEqualsMemory(RTMMetadataEntryHeader.self, size: RTMLayout.metadataEntryHeaderSize)
    }

    /// Spot checks against the spec's offset tables, byte by byte.
    func testHeaderFieldsSitAtSpecOffsets() {
        var header = RTMFileHeader()
        header.magic = RTMFileHeader.magicValue
        header.versionMajor = 1
        header.versionMinor = 0x0203
        header.alignment = 64
        header.fileSize = 0x0102_0304_0506_0708
        header.tensorCount = 0xAABB
        header.headerChecksum = 0xF0E0_D0C0_B0A0_9080
        let bytes = header.encoded()
        XCTAssertEqual(Array(bytes[0 ..< 8]), [0x89, 0x52, 0x54, 0x4D, 0x0D, 0x0A, 0x1A, 0x0A])
        XCTAssertEqual(Array(bytes[8 ..< 12]), [0x01, 0x00, 0x03, 0x02])
        XCTAssertEqual(Array(bytes[16 ..< 20]), [64, 0, 0, 0])
        XCTAssertEqual(Array(bytes[24 ..< 32]), [0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01])
        XCTAssertEqual(Array(bytes[72 ..< 80]), rtmLE(UInt64(0xAABB)))
        XCTAssertEqual(Array(bytes[120 ..< 128]), rtmLE(UInt64(0xF0E0_D0C0_B0A0_9080)))
    }

    func testTensorRecordFieldsSitAtSpecOffsets() {
        var record = RTMTensorRecord()
        record.nameOffset = 0x11
        record.nameLength = 0x22
        record.dtype = 3
        record.rank = 2
        record.dims = [0x0102, 0x0304]
        record.dataOffset = 0x4000
        record.dataSize = 0x5000
        record.scaleOffset = 0x6000
        record.scaleCount = 0x70
        record.groupSize = 32
        record.activationScale = 0.25
        record.dataChecksum = 0x8899_AABB_CCDD_EEFF
        record.scaleChecksum = 0x1122_3344_5566_7788
        let bytes = record.encoded()
        XCTAssertEqual(Array(bytes[0 ..< 16]), rtmLE(UInt32(0x11)) + rtmLE(UInt32(0x22)) + rtmLE(UInt32(3)) + rtmLE(UInt32(2)))
        XCTAssertEqual(Array(bytes[16 ..< 48]), rtmLE(UInt64(0x0102)) + rtmLE(UInt64(0x0304)) + [UInt8](repeating: 0, count: 16))
        XCTAssertEqual(Array(bytes[48 ..< 80]),
                       rtmLE(UInt64(0x4000)) + rtmLE(UInt64(0x5000)) + rtmLE(UInt64(0x6000)) + rtmLE(UInt64(0x70)))
        XCTAssertEqual(Array(bytes[80 ..< 88]), rtmLE(UInt32(32)) + rtmLE(Float(0.25).bitPattern))
        XCTAssertEqual(Array(bytes[88 ..< 104]), rtmLE(UInt64(0x8899_AABB_CCDD_EEFF)) + rtmLE(UInt64(0x1122_3344_5566_7788)))
        XCTAssertEqual(Array(bytes[104 ..< 128]), [UInt8](repeating: 0, count: 24))
        record.activationDigits = 2
        XCTAssertEqual(Array(record.encoded()[104 ..< 128]), rtmLE(UInt32(2)) + [UInt8](repeating: 0, count: 20))
    }

    /// A whole file from the writer: sections 64-aligned and in order, the layout the spec gives.
    func testWriterPlacesSectionsAndTensorsAligned() throws {
        let image = RTMImage(bytes: RTMFixtures.small())
        let h = image.header
        XCTAssertEqual(h.magic, RTMFileHeader.magicValue)
        XCTAssertEqual(h.versionMajor, 1)
        XCTAssertEqual(h.versionMinor, 1)
        XCTAssertEqual(h.alignment, 64)
        XCTAssertEqual(h.metadataOffset, 128)
        XCTAssertEqual(h.metadataCount, 5)
        XCTAssertEqual(h.tableOffset % 64, 0)
        XCTAssertGreaterThanOrEqual(h.tableOffset, h.metadataOffset + h.metadataSize)
        XCTAssertEqual(h.tensorCount, 4)
        XCTAssertEqual(h.tableSize, 4 * 128 + 16)  // names "tokhalfq8g" = 10 bytes, padded to 16
        XCTAssertEqual(h.dataOffset % 64, 0)
        XCTAssertEqual(h.dataOffset + h.dataSize, h.fileSize)
        XCTAssertEqual(h.fileSize, UInt64(image.bytes.count))
        for i in 0 ..< 4 {
            let r = image.record(i)
            XCTAssertEqual(r.dataOffset % 64, 0)
            XCTAssertEqual(r.scaleOffset % 64, 0)
        }
        XCTAssertEqual(RTMFixtures.small(), image.bytes, "serialization is deterministic")
    }

    // MARK: - Checksum and UTF-8

    /// Expected values from the reference library (libxxhash 0.8.1, XXH64 with seed 0).
    func testXXH64MatchesReference() {
        XCTAssertEqual(RTMChecksum.xxh64([]), 0xEF46_DB37_51D8_E999)
        XCTAssertEqual(RTMChecksum.xxh64(Array("a".utf8)), 0xD24E_C4F1_A98C_6E5B)
        XCTAssertEqual(RTMChecksum.xxh64(Array("abc".utf8)), 0x44BC_2CF5_AD77_0999)
        XCTAssertEqual(RTMChecksum.xxh64(Array("Nobody inspects the spammish repetition".utf8)), 0xFBCE_A83C_8A37_8BF1)
        let pattern = (0 ..< 4).flatMap { _ in (0 ..< 256).map { UInt8($0) } } + Array("xyz".utf8)
        XCTAssertEqual(RTMChecksum.xxh64(pattern), 0xE146_CB31_B65B_C21A)
        XCTAssertEqual(RTMChecksum.xxh64(Array("xxhash".utf8), seed: 20_141_025), 0xB559_B98D_844E_0635)
        // Every length 0..<200 (all tail paths, one to six stripes), XOR-folded.
        let data = (0 ..< 200).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
        var folded: UInt64 = 0
        for n in 0 ..< 200 { folded ^= RTMChecksum.xxh64(Array(data[0 ..< n])) }
        XCTAssertEqual(folded, 0x6E13_0BD1_1100_B78B)
    }

    func testXXH64IgnoresBufferAlignment() {
        let data = (0 ..< 300).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let expected = RTMChecksum.xxh64(Array(data[5 ..< 290]))
        data.withUnsafeBytes { raw in
            XCTAssertEqual(RTMChecksum.xxh64(UnsafeRawBufferPointer(rebasing: raw[5 ..< 290])), expected)
        }
    }

    func testUTF8ValidatorIsStrict() {
        func valid(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBytes { rtmIsValidUTF8($0) } }
        XCTAssertTrue(valid([]))
        XCTAssertTrue(valid(Array("plain ascii, longer than eight bytes".utf8)))
        XCTAssertTrue(valid(Array("héllo wörld 日本語 🌍 Ġthe".utf8)))
        XCTAssertTrue(valid([0xF4, 0x8F, 0xBF, 0xBF]))        // U+10FFFF
        XCTAssertTrue(valid([0xED, 0x9F, 0xBF]))              // U+D7FF
        XCTAssertFalse(valid([0x80]))                         // lone continuation
        XCTAssertFalse(valid([0xC0, 0xAF]))                   // overlong '/'
        XCTAssertFalse(valid([0xE0, 0x80, 0xAF]))             // overlong
        XCTAssertFalse(valid([0xF0, 0x80, 0x80, 0xAF]))       // overlong
        XCTAssertFalse(valid([0xED, 0xA0, 0x80]))             // surrogate U+D800
        XCTAssertFalse(valid([0xF4, 0x90, 0x80, 0x80]))       // U+110000
        XCTAssertFalse(valid([0xF5, 0x80, 0x80, 0x80]))
        XCTAssertFalse(valid([0xFF]))
        XCTAssertFalse(valid([0x61, 0x62, 0xE6, 0x97]))       // truncated 3-byte sequence
        XCTAssertFalse(valid(Array("abcdefgh".utf8) + [0xC3]))  // truncated after the fast path
    }
}
