@testable import RetortRuntime
import XCTest

/// An `.rtm` image under test, with editors that keep the checksums consistent, so a hostile
/// value reaches the check it targets instead of failing a checksum first.
struct RTMImage {
    var bytes: [UInt8]

    var header: RTMFileHeader { bytes.withUnsafeBytes { RTMFileHeader.decode($0, at: 0) } }

    func recordOffset(_ i: Int) -> Int { Int(header.tableOffset) + i * RTMLayout.tensorRecordSize }

    func record(_ i: Int) -> RTMTensorRecord {
        bytes.withUnsafeBytes { RTMTensorRecord.decode($0, at: recordOffset(i)) }
    }

    /// Edits header fields, then recomputes the header checksum.
    mutating func editHeader(_ edit: (inout RTMFileHeader) -> Void) {
        var header = self.header
        edit(&header)
        bytes.replaceSubrange(0 ..< RTMLayout.headerSize, with: header.encoded())
        resealHeader()
    }

    /// Edits tensor record `i`, then recomputes the table and header checksums.
    mutating func editRecord(_ i: Int, _ edit: (inout RTMTensorRecord) -> Void) {
        var record = self.record(i)
        edit(&record)
        let start = recordOffset(i)
        bytes.replaceSubrange(start ..< start + RTMLayout.tensorRecordSize, with: record.encoded())
        resealTable()
    }

    /// Edits raw bytes of the metadata section, then recomputes its checksum.
    mutating func editMetadata(_ edit: (inout [UInt8]) -> Void) {
        let range = Int(header.metadataOffset) ..< Int(header.metadataOffset + header.metadataSize)
        var section = Array(bytes[range])
        edit(&section)
        precondition(section.count == range.count, "metadata edits must keep the section size")
        bytes.replaceSubrange(range, with: section)
        editHeader { $0.metadataChecksum = RTMChecksum.xxh64(section) }
    }

    /// Edits raw bytes of the table section (records and names), then recomputes its checksum.
    mutating func editTable(_ edit: (inout [UInt8]) -> Void) {
        let range = Int(header.tableOffset) ..< Int(header.tableOffset + header.tableSize)
        var section = Array(bytes[range])
        edit(&section)
        bytes.replaceSubrange(range, with: section)
        resealTable()
    }

    mutating func resealTable() {
        let range = Int(header.tableOffset) ..< Int(header.tableOffset + header.tableSize)
        let checksum = RTMChecksum.xxh64(Array(bytes[range]))
        editHeader { $0.tableChecksum = checksum }
    }

    mutating func resealHeader() {
        var header = self.header
        header.headerChecksum = RTMChecksum.xxh64(Array(bytes[0 ..< RTMLayout.headerChecksummedBytes]))
        bytes.replaceSubrange(0 ..< RTMLayout.headerSize, with: header.encoded())
    }
}

/// Asserts that opening `bytes` fails with an `RTMError` whose field is `field` and whose message
/// contains `message` (when given); prints the error otherwise.
func rtmAssertRejects(_ bytes: [UInt8], field: String, message: String? = nil, verifyTensorChecksums: Bool = true,
                      file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try RTMFile(bytes: bytes, name: "hostile.rtm", verifyTensorChecksums: verifyTensorChecksums)
        XCTFail("accepted a file that should fail at \(field)", file: file, line: line)
    } catch {
        XCTAssertEqual(error.file, "hostile.rtm", file: file, line: line)
        XCTAssertEqual(error.field, field, "\(error)", file: file, line: line)
        if let message {
            XCTAssertTrue(error.message.contains(message), "\(error) does not mention \"\(message)\"", file: file, line: line)
        }
    }
}

/// Little-endian bytes of a value, for building expected encodings.
func rtmLE<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    (0 ..< MemoryLayout<T>.size).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
}

enum RTMFixtures {
    /// A small valid file: a few metadata entries and one tensor of every dtype.
    /// tensor[0] "tok" f32 [8, 4]; tensor[1] "half" f16 [16]; tensor[2] "q8" int8PerChannel
    /// [32, 3]; tensor[3] "g" int8PerGroup [32, 2] group 16, activation scale 0.5.
    static func small() -> [UInt8] {
        var w = RTMWriter()
        w.set("model.architecture", .string("llama"))
        w.set("llama.block_count", .int(2))
        w.set("tokenizer.tokens", .strings(["a", "Ġb", ""]))
        w.set("eps", .float(1e-5))
        w.set("tied", .bool(true))
        w.addTensor(name: "tok", dtype: .f32, dims: [8, 4], data: floatBytes((0 ..< 32).map { Float($0) }))
        w.addTensor(name: "half", dtype: .f16, dims: [16], data: (0 ..< 32).map { UInt8($0) })
        w.addTensor(name: "q8", dtype: .int8PerChannel, dims: [32, 3], data: (0 ..< 96).map { UInt8($0) },
                    scales: [0.1, 0.2, 0.3])
        w.addTensor(name: "g", dtype: .int8PerGroup, dims: [32, 2], data: (0 ..< 64).map { UInt8(200 - $0) },
                    scales: [1, 2, 3, 4], groupSize: 16, activationScale: 0.5)
        return w.serialize()
    }

    static func floatBytes(_ values: [Float]) -> [UInt8] {
        values.flatMap { rtmLE($0.bitPattern) }
    }
}
