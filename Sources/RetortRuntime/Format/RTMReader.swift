/// Validates an `.rtm` image and decodes its metadata and tensor table (formats/rtm.md).
///
/// Nothing in the file is trusted: every count and length is checked against the bytes that
/// remain before anything is allocated, sizes use checked arithmetic, and every failure is an
/// `RTMError` naming the field. Order: magic, version, header checksum, header fields, metadata
/// checksum, metadata, table checksum, tensor records, tensor checksums.
struct RTMReader {
    let bytes: UnsafeRawBufferPointer
    let file: String

    struct Contents {
        var header = RTMFileHeader()
        var metadata: [(key: String, value: RTMStoredValue)] = []
        var metadataIndex: [[UInt8]: Int] = [:]
        var tensors: [RTMTensor] = []
        var tensorIndex: [[UInt8]: Int] = [:]
    }

    func fail(_ field: String, _ message: String) -> RTMError {
        RTMError(file: file, field: field, message: message)
    }

    func read(verifyTensorChecksums: Bool) throws(RTMError) -> Contents {
        var contents = Contents()
        contents.header = try readHeader()
        let header = contents.header
        let metadata = try section(header.metadataOffset, header.metadataSize, after: RTMLayout.headerSize,
                                   alignment: 8, "metadata")
        let table = try section(header.tableOffset, header.tableSize, after: metadata.upperBound,
                                alignment: 8, "table")
        let data = try section(header.dataOffset, header.dataSize, after: table.upperBound,
                               alignment: Int(header.alignment), "data")
        guard data.upperBound == bytes.count else {
            throw fail("header.dataSize", "the data section ends at \(data.upperBound), not at the end of the file (\(bytes.count))")
        }
        try verify(metadata, header.metadataChecksum, "header.metadataChecksum", "metadata section")
        try readMetadata(metadata, count: header.metadataCount, into: &contents)
        try verify(table, header.tableChecksum, "header.tableChecksum", "tensor table")
        try readTensors(table, data: data, into: &contents)
        if verifyTensorChecksums { try verifyTensors(table, contents.tensors) }
        return contents
    }

    // MARK: - Header

    private func readHeader() throws(RTMError) -> RTMFileHeader {
        let size = bytes.count
        let magic = RTMLayout.magic
        guard size >= magic.count else {
            throw fail("header.magic", "the file is \(size) bytes, too short for the \(magic.count)-byte magic")
        }
        guard (0 ..< magic.count).allSatisfy({ bytes[$0] == magic[$0] }) else {
            if bytes[0] == 0x47, bytes[1] == 0x47, bytes[2] == 0x55, bytes[3] == 0x46 {
                throw fail("header.magic", "this is a GGUF file, not .rtm")
            }
            var found = ""
            for i in 0 ..< magic.count { found += (i == 0 ? "" : " ") + hexByte(bytes[i]) }
            throw fail("header.magic", "bad magic \(found), expected 89 52 54 4D 0D 0A 1A 0A; not an .rtm file")
        }
        guard size >= 12 else {
            throw fail("header.versionMajor", "the file is \(size) bytes, too short for the version")
        }
        let major = UInt16(bytes[8]) | UInt16(bytes[9]) << 8
        let minor = UInt16(bytes[10]) | UInt16(bytes[11]) << 8
        guard major == RTMLayout.versionMajor else {
            let swapped = major.byteSwapped == RTMLayout.versionMajor ? " (looks byte-swapped: big-endian files are not supported)" : ""
            throw fail("header.versionMajor",
                       "unsupported version \(major).\(minor); this reader knows \(RTMLayout.versionMajor).x\(swapped)")
        }
        guard size >= RTMLayout.headerSize else {
            throw fail("header", "the file is \(size) bytes, too short for the \(RTMLayout.headerSize)-byte header")
        }
        let header = RTMFileHeader.decode(bytes, at: 0)
        let computed = RTMChecksum.xxh64(UnsafeRawBufferPointer(rebasing: bytes[0 ..< RTMLayout.headerChecksummedBytes]))
        guard computed == header.headerChecksum else {
            throw fail("header.headerChecksum", mismatch("header", stored: header.headerChecksum, computed: computed))
        }
        if minor <= RTMLayout.versionMinor {
            guard header.flags == 0 else { throw fail("header.flags", "reserved flags \(header.flags) must be 0") }
            guard header.reserved0 == 0, header.reserved1 == 0 else {
                throw fail("header.reserved", "reserved fields must be 0 in version \(major).\(minor)")
            }
        }
        let alignment = Int(exactly: header.alignment) ?? 0  // (32-bit hosts: too large is invalid)
        guard RTMLayout.alignmentRange.contains(alignment), alignment & (alignment - 1) == 0 else {
            throw fail("header.alignment", "alignment \(alignment) must be a power of two in \(RTMLayout.alignmentRange.lowerBound)...\(RTMLayout.alignmentRange.upperBound)")
        }
        guard header.fileSize == UInt64(size) else {
            let what = header.fileSize > UInt64(size) ? "truncated" : "has trailing bytes"
            throw fail("header.fileSize", "the header says \(header.fileSize) bytes but the file has \(size): the file is \(what)")
        }
        return header
    }

    /// The byte range `offset ..< offset + size` of a section, checked to start at or after
    /// `after`, at a multiple of `alignment`, and to end inside the file.
    private func section(_ offset: UInt64, _ size: UInt64, after: Int, alignment: Int,
                         _ name: String) throws(RTMError) -> Range<Int> {
        let offsetField = "header.\(name)Offset", sizeField = "header.\(name)Size"
        guard let start = Int(exactly: offset), start >= after, start <= bytes.count else {
            throw fail(offsetField, "\(name) section offset \(offset) is outside \(after)...\(bytes.count)")
        }
        guard start % alignment == 0 else {
            throw fail(offsetField, "\(name) section offset \(offset) is not a multiple of \(alignment)")
        }
        guard let length = Int(exactly: size), length <= bytes.count - start else {
            throw fail(sizeField, "\(name) section of \(size) bytes at \(offset) runs past the end of the file (\(bytes.count))")
        }
        return start ..< start + length
    }

    private func verify(_ range: Range<Int>, _ stored: UInt64, _ field: String, _ what: String) throws(RTMError) {
        let computed = RTMChecksum.xxh64(UnsafeRawBufferPointer(rebasing: bytes[range]))
        guard computed == stored else { throw fail(field, mismatch(what, stored: stored, computed: computed)) }
    }

    private func mismatch(_ what: String, stored: UInt64, computed: UInt64) -> String {
        "\(what) checksum mismatch: stored \(RTMChecksum.hex(stored)), computed \(RTMChecksum.hex(computed)); the file is corrupt"
    }

    // MARK: - Metadata

    private func readMetadata(_ range: Range<Int>, count rawCount: UInt64, into contents: inout Contents) throws(RTMError) {
        let capacity = range.count / RTMLayout.minimumMetadataEntrySize
        guard let count = Int(exactly: rawCount), count <= capacity else {
            throw fail("header.metadataCount", "\(rawCount) entries cannot fit in a \(range.count)-byte metadata section")
        }
        var cursor = Cursor(reader: self, offset: range.lowerBound, end: range.upperBound)
        contents.metadata.reserveCapacity(count)
        contents.metadataIndex.reserveCapacity(count)
        for i in 0 ..< count {
            let entry = "metadata[\(i)]"
            try cursor.require(RTMLayout.metadataEntryHeaderSize, entry)
            let header = RTMMetadataEntryHeader.decode(bytes, at: cursor.offset)
            cursor.offset += RTMLayout.metadataEntryHeaderSize
            let keyLength = Int(exactly: header.keyLength) ?? Int.max
            guard (1 ... RTMLayout.maxKeyLength).contains(keyLength) else {
                throw fail(entry + ".keyLength", "key length \(keyLength) is outside 1...\(RTMLayout.maxKeyLength)")
            }
            let keyBytes = try cursor.take(keyLength, entry + ".key")
            guard rtmIsValidUTF8(keyBytes) else { throw fail(entry + ".key", "the key is not valid UTF-8") }
            let key = String(decoding: keyBytes, as: UTF8.self)
            let field = "\(entry) (\(key))"
            let keyArray = Array(keyBytes)
            guard contents.metadataIndex[keyArray] == nil else { throw fail(field, "duplicate key") }
            let value = try cursor.readValue(type: header.valueType, count: header.valueCount, field)
            contents.metadataIndex[keyArray] = contents.metadata.count
            contents.metadata.append((key: key, value: value))
        }
        guard cursor.offset == range.upperBound else {
            throw fail("metadata", "\(range.upperBound - cursor.offset) bytes after the last of \(count) entries")
        }
    }

    /// Reads forward through one section; every read is checked against the section's end.
    private struct Cursor {
        let reader: RTMReader
        var offset: Int
        let end: Int

        var remaining: Int { end - offset }

        func require(_ count: Int, _ field: String) throws(RTMError) {
            guard count <= remaining else {
                throw reader.fail(field, "needs \(count) bytes at offset \(offset) but the section ends at \(end)")
            }
        }

        /// `count` bytes, then the cursor skips their padding to a multiple of 8.
        mutating func take(_ count: Int, _ field: String) throws(RTMError) -> UnsafeRawBufferPointer {
            try require(RTMLayout.pad8(count), field)
            let slice = UnsafeRawBufferPointer(rebasing: reader.bytes[offset ..< offset + count])
            offset += RTMLayout.pad8(count)
            return slice
        }

        /// An element count that, at `elementSize` bytes each, fits in what remains.
        func count(_ raw: UInt64, elementSize: Int, _ field: String) throws(RTMError) -> Int {
            guard let count = Int(exactly: raw), count <= remaining / elementSize else {
                throw reader.fail(field + ".valueCount",
                                  "\(raw) elements of \(elementSize) bytes do not fit in the \(remaining) bytes left")
            }
            return count
        }

        /// Validates one value. Scalars and strings come back decoded; arrays stay in the file
        /// (`RTMStoredValue`), so a large vocabulary is not held twice.
        mutating func readValue(type: UInt32, count raw: UInt64, _ field: String) throws(RTMError) -> RTMStoredValue {
            typealias T = RTMLayout.ValueType
            switch type {
            case T.int, T.float, T.bool:
                guard raw == 1 else { throw reader.fail(field + ".valueCount", "a scalar must have count 1, found \(raw)") }
                let bits = try take(8, field + ".value").loadUnaligned(as: UInt64.self).littleEndianValue
                if type == T.int { return .decoded(.int(Int64(bitPattern: bits))) }
                if type == T.float { return .decoded(.float(Double(bitPattern: bits))) }
                guard bits <= 1 else { throw reader.fail(field + ".value", "a bool must be 0 or 1, found \(bits)") }
                return .decoded(.bool(bits == 1))
            case T.string:
                let length = try count(raw, elementSize: 1, field)
                return .decoded(.string(try string(length, field + ".value")))
            case T.ints:
                let n = try count(raw, elementSize: 8, field)
                let start = offset
                _ = try take(n * 8, field + ".value")
                return .ints(offset: start, count: n)
            case T.floats:
                let n = try count(raw, elementSize: 4, field)
                let start = offset
                _ = try take(n * 4, field + ".value")
                return .floats(offset: start, count: n)
            case T.strings:
                let n = try count(raw, elementSize: 4, field)
                let lengthsOffset = offset
                let lengths = try take(n * 4, field + ".lengths")
                let start = offset
                for j in 0 ..< n {
                    let length = Int(exactly: lengths.loadUnaligned(fromByteOffset: 4 * j, as: UInt32.self).littleEndianValue) ?? Int.max
                    let elementField = "\(field).value[\(j)]"
                    try require(length, elementField)
                    let raw = UnsafeRawBufferPointer(rebasing: reader.bytes[offset ..< offset + length])
                    guard rtmIsValidUTF8(raw) else { throw reader.fail(elementField, "the string is not valid UTF-8") }
                    offset += length
                }
                let padded = RTMLayout.pad8(offset - start)
                try require(padded - (offset - start), field + ".value")
                offset = start + padded
                return .strings(lengths: lengthsOffset, data: start, count: n)
            default:
                throw reader.fail(field + ".valueType", "unknown value type \(type)")
            }
        }

        private mutating func string(_ length: Int, _ field: String) throws(RTMError) -> String {
            let raw = try take(length, field)
            guard rtmIsValidUTF8(raw) else { throw reader.fail(field, "the string is not valid UTF-8") }
            return String(decoding: raw, as: UTF8.self)
        }
    }

    // MARK: - Tensor table

    private func readTensors(_ table: Range<Int>, data: Range<Int>, into contents: inout Contents) throws(RTMError) {
        let header = contents.header
        let capacity = table.count / RTMLayout.tensorRecordSize
        guard let count = Int(exactly: header.tensorCount), count <= capacity else {
            throw fail("header.tensorCount",
                       "\(header.tensorCount) records of \(RTMLayout.tensorRecordSize) bytes do not fit in the \(table.count)-byte table")
        }
        let poolStart = table.lowerBound + count * RTMLayout.tensorRecordSize
        let poolSize = UInt64(table.upperBound - poolStart)
        let alignment = Int(header.alignment)
        let checkReserved = header.versionMinor <= RTMLayout.versionMinor
        guard let base = bytes.baseAddress else { return }  // count is 0: the table is empty

        /// Byte ranges of all data and scales, to find overlaps: (start, end, tensor, isScales).
        var ranges: [(start: Int, end: Int, tensor: Int, isScales: Bool)] = []
        ranges.reserveCapacity(2 * count)
        contents.tensors.reserveCapacity(count)
        contents.tensorIndex.reserveCapacity(count)

        for i in 0 ..< count {
            let record = RTMTensorRecord.decode(bytes, at: table.lowerBound + i * RTMLayout.tensorRecordSize)
            let entry = "tensor[\(i)]"

            // Name.
            let nameLength = Int(exactly: record.nameLength) ?? Int.max
            guard (1 ... RTMLayout.maxNameLength).contains(nameLength) else {
                throw fail(entry + ".nameLength", "name length \(nameLength) is outside 1...\(RTMLayout.maxNameLength)")
            }
            guard UInt64(record.nameOffset) + UInt64(record.nameLength) <= poolSize else {
                throw fail(entry + ".nameOffset",
                           "name at \(record.nameOffset) of \(nameLength) bytes runs past the \(poolSize)-byte name pool")
            }
            let nameStart = poolStart + Int(record.nameOffset)
            let nameBytes = UnsafeRawBufferPointer(rebasing: bytes[nameStart ..< nameStart + nameLength])
            guard rtmIsValidUTF8(nameBytes) else { throw fail(entry + ".name", "the name is not valid UTF-8") }
            let name = String(decoding: nameBytes, as: UTF8.self)
            let prefix = "\(entry) (\(name))"
            let nameArray = Array(nameBytes)
            guard contents.tensorIndex[nameArray] == nil else { throw fail(prefix + ".name", "duplicate tensor name") }

            // Shape.
            guard let dtype = RTMDType(rawValue: record.dtype) else {
                throw fail(prefix + ".dtype", "unknown dtype \(record.dtype)")
            }
            guard record.rank >= 1, record.rank <= UInt32(RTMShape.maxRank) else {
                throw fail(prefix + ".rank", "rank \(record.rank) is outside 1...\(RTMShape.maxRank)")
            }
            let rank = Int(record.rank)
            var dims: [Int] = []
            for (j, dim) in record.dims.enumerated() {
                if j < rank {
                    guard let value = Int(exactly: dim), value >= 1 else {
                        throw fail(prefix + ".dims[\(j)]", "dimension \(dim) is outside 1...\(Int.max)")
                    }
                    dims.append(value)
                } else if dim != 0 {
                    throw fail(prefix + ".dims[\(j)]", "dimension \(dim) beyond rank \(rank) must be 0")
                }
            }
            guard let groupSize = Int(exactly: record.groupSize) else {
                throw fail(prefix + ".groupSize", "group size \(record.groupSize) does not fit in Int")
            }
            let dataBytes: Int, scaleCount: Int
            switch RTMShape.check(dtype: dtype, dims: dims, groupSize: groupSize) {
            case .invalid(let field, let message):
                throw fail(prefix + "." + field, message)
            case .valid(_, let bytes, let scales):
                dataBytes = bytes
                scaleCount = scales
            }
            guard record.dataSize == UInt64(dataBytes) else {
                throw fail(prefix + ".dataSize", "\(record.dataSize) bytes, expected \(dataBytes) for \(dtype.name) [\(dimsText(dims))]")
            }
            let dataStart = try range(record.dataOffset, dataBytes, in: data, alignment: alignment, prefix + ".dataOffset")
            ranges.append((dataStart, dataStart + dataBytes, i, false))

            // Scales.
            var scales: UnsafePointer<Float>? = nil
            guard record.scaleCount == UInt64(scaleCount) else {
                throw fail(prefix + ".scaleCount", "\(record.scaleCount) scales, expected \(scaleCount) for \(dtype.name) [\(dimsText(dims))]"
                           + (groupSize > 0 ? " with group size \(groupSize)" : ""))
            }
            if scaleCount == 0 {
                guard record.scaleOffset == 0, record.scaleChecksum == 0 else {
                    throw fail(prefix + ".scaleOffset", "\(dtype.name) has no scales: scaleOffset and scaleChecksum must be 0")
                }
            } else {
                let (scaleBytes, overflow) = scaleCount.multipliedReportingOverflow(by: 4)
                guard !overflow else { throw fail(prefix + ".scaleCount", "the scale byte count overflows") }
                let scaleStart = try range(record.scaleOffset, scaleBytes, in: data, alignment: alignment, prefix + ".scaleOffset")
                ranges.append((scaleStart, scaleStart + scaleBytes, i, true))
                scales = (base + scaleStart).assumingMemoryBound(to: Float.self)
            }

            let activationScale = record.activationScale
            guard activationScale.isFinite, activationScale >= 0 else {
                throw fail(prefix + ".activationScale", "must be finite and ≥ 0 (0 = none), found bits \(RTMChecksum.hex(UInt64(record.activationScaleBits)))")
            }
            let digits = record.activationDigits
            if header.versionMinor == 0 {
                guard digits == 0 else {
                    throw fail(prefix + ".activationDigits", "\(digits): the field is reserved (0) in version 1.0")
                }
            }
            guard digits == 0 || digits == 2 else {
                throw fail(prefix + ".activationDigits", "\(digits) is not 0 (one int8 digit) or 2 (two)")
            }
            if digits == 2 {
                guard dtype == .int8PerChannel || dtype == .int8PerGroup else {
                    throw fail(prefix + ".activationDigits", "two-digit activations need an int8 tensor, not \(dtype.name)")
                }
                guard activationScale == 0 else {
                    throw fail(prefix + ".activationDigits", "two-digit activations are quantized per token; activationScale must be 0")
                }
            }
            if checkReserved {
                guard record.reserved0 == 0, record.reserved1 == 0, record.reserved2 == 0 else {
                    throw fail(prefix + ".reserved", "reserved fields must be 0 in version \(header.versionMajor).\(header.versionMinor)")
                }
            }

            contents.tensorIndex[nameArray] = i
            contents.tensors.append(RTMTensor(
                name: name, dtype: dtype, dims: dims, data: base + dataStart, dataBytes: dataBytes,
                scales: scales, scaleCount: scaleCount, groupSize: groupSize, activationScale: activationScale,
                activationDigits: digits == 2 ? 2 : 1))
        }

        // No two data or scale ranges may share a byte.
        ranges.sort { $0.start < $1.start }
        for k in ranges.indices.dropFirst() where ranges[k].start < ranges[k - 1].end {
            let this = ranges[k], other = ranges[k - 1]
            let field = "tensor[\(this.tensor)] (\(contents.tensors[this.tensor].name))" + (this.isScales ? ".scaleOffset" : ".dataOffset")
            let what = other.isScales ? "scales" : "data"
            throw fail(field, "bytes \(this.start)..<\(this.end) overlap the \(what) of tensor[\(other.tensor)] (\(contents.tensors[other.tensor].name)) at \(other.start)..<\(other.end)")
        }
    }

    /// `offset ..< offset + size` checked to lie inside `section` at a multiple of `alignment`.
    private func range(_ offset: UInt64, _ size: Int, in section: Range<Int>, alignment: Int,
                       _ field: String) throws(RTMError) -> Int {
        guard let start = Int(exactly: offset), start >= section.lowerBound, start <= section.upperBound,
              size <= section.upperBound - start else {
            throw fail(field, "\(size) bytes at \(offset) lie outside the data section \(section.lowerBound)..<\(section.upperBound)")
        }
        guard start % alignment == 0 else {
            throw fail(field, "offset \(offset) is not a multiple of the alignment \(alignment)")
        }
        return start
    }

    private func verifyTensors(_ table: Range<Int>, _ tensors: [RTMTensor]) throws(RTMError) {
        for (i, tensor) in tensors.enumerated() {
            let record = RTMTensorRecord.decode(bytes, at: table.lowerBound + i * RTMLayout.tensorRecordSize)
            let prefix = "tensor[\(i)] (\(tensor.name))"
            let computed = RTMChecksum.xxh64(tensor.bytes)
            guard computed == record.dataChecksum else {
                throw fail(prefix + ".dataChecksum", mismatch("tensor data", stored: record.dataChecksum, computed: computed))
            }
            if tensor.scaleCount > 0 {
                let computed = RTMChecksum.xxh64(UnsafeRawBufferPointer(tensor.scaleBuffer))
                guard computed == record.scaleChecksum else {
                    throw fail(prefix + ".scaleChecksum", mismatch("tensor scales", stored: record.scaleChecksum, computed: computed))
                }
            }
        }
    }
}

private func hexByte(_ byte: UInt8) -> String {
    let digits: [UInt8] = Array("0123456789ABCDEF".utf8)
    return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 15)]], as: UTF8.self)
}

private func dimsText(_ dims: [Int]) -> String {
    dims.map { String($0) }.joined(separator: ", ")
}

private extension FixedWidthInteger {
    var littleEndianValue: Self { Self(littleEndian: self) }
}

/// A validated metadata value where it lies in the file: scalars and single strings decoded, the
/// arrays (a vocabulary, merges, token types) as byte offsets, decoded when asked for.
enum RTMStoredValue: Sendable {
    case decoded(RTMValue)
    case ints(offset: Int, count: Int)
    case floats(offset: Int, count: Int)
    case strings(lengths: Int, data: Int, count: Int)

    var typeName: String {
        switch self {
        case .decoded(let value): value.typeName
        case .ints: "ints"
        case .floats: "floats"
        case .strings: "strings"
        }
    }

    /// The value, from the file's `bytes` (already validated by `RTMReader`).
    func decode(_ bytes: UnsafeRawBufferPointer) -> RTMValue {
        switch self {
        case .decoded(let value):
            return value
        case .ints(let offset, let n):
            return .ints((0 ..< n).map {
                Int64(bitPattern: bytes.loadUnaligned(fromByteOffset: offset + 8 * $0, as: UInt64.self).littleEndianValue)
            })
        case .floats(let offset, let n):
            return .floats((0 ..< n).map {
                Float(bitPattern: bytes.loadUnaligned(fromByteOffset: offset + 4 * $0, as: UInt32.self).littleEndianValue)
            })
        case .strings:
            return .strings(elements(bytes).map { String(decoding: $0, as: UTF8.self) })
        }
    }

    /// The elements of a `strings` value as views of `bytes` (empty for other types).
    func elements(_ bytes: UnsafeRawBufferPointer) -> [UnsafeRawBufferPointer] {
        guard case .strings(let lengths, var offset, let n) = self else { return [] }
        var result: [UnsafeRawBufferPointer] = []
        result.reserveCapacity(n)
        for j in 0 ..< n {
            let length = Int(bytes.loadUnaligned(fromByteOffset: lengths + 4 * j, as: UInt32.self).littleEndianValue)
            result.append(UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + length]))
            offset += length
        }
        return result
    }
}
