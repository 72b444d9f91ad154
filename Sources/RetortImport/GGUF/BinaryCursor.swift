/// Bounds-checked little-endian reader over the bytes of one file.
///
/// Every read names the field it is reading (lazily: the name is only built when a read fails),
/// so errors say exactly where a file went wrong.
struct BinaryCursor {
    let bytes: UnsafeRawBufferPointer
    let file: String
    private(set) var offset = 0

    init(_ bytes: UnsafeRawBufferPointer, file: String) {
        self.bytes = bytes
        self.file = file
    }

    var remaining: Int { bytes.count - offset }

    func error(_ field: String, _ kind: GGUFError.Kind) -> GGUFError {
        GGUFError(file: file, field: field, kind: kind)
    }

    /// Throws `truncated` unless `count` more bytes are available.
    func require(_ count: Int, _ field: @autoclosure () -> String) throws(GGUFError) {
        guard count <= remaining else {
            throw error(field(), .truncated(offset: offset, needed: count, fileSize: bytes.count))
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ field: @autoclosure () -> String) throws(GGUFError) -> T {
        let size = MemoryLayout<T>.size
        try require(size, field())
        let raw = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += size
        return T(littleEndian: raw)
    }

    /// A u64 length or count, checked to fit in `Int` and — given that each element takes at
    /// least `minimumElementSize` bytes — to fit in what remains of the file, before anyone
    /// allocates for it.
    mutating func readCount(minimumElementSize: Int, _ field: @autoclosure () -> String) throws(GGUFError) -> Int {
        let raw = try read(UInt64.self, field())
        guard let count = Int(exactly: raw) else {
            throw error(field(), .outOfRange("count \(raw) does not fit in Int"))
        }
        let (needed, overflow) = count.multipliedReportingOverflow(by: minimumElementSize)
        if overflow {
            throw error(field(), .overflow)
        }
        guard needed <= remaining else {
            throw error(field(), .truncated(offset: offset, needed: needed, fileSize: bytes.count))
        }
        return count
    }

    /// A u64 length followed by that many bytes of UTF-8. Invalid UTF-8 is an error, not repaired.
    mutating func readString(_ field: @autoclosure () -> String) throws(GGUFError) -> String {
        let length = try readCount(minimumElementSize: 1, field())
        let raw = UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + length])
        let string = String(decoding: raw, as: UTF8.self)
        // Decoding repairs invalid input; the result equals the input exactly when it was valid.
        guard string.utf8.count == length, string.utf8.elementsEqual(raw) else {
            throw error(field(), .invalid("string of \(length) bytes at offset \(offset) is not valid UTF-8"))
        }
        offset += length
        return string
    }

    /// Moves to the next multiple of `alignment` (a power of two), which may lie past the end.
    mutating func align(to alignment: Int, _ field: @autoclosure () -> String) throws(GGUFError) {
        let (padded, overflow) = offset.addingReportingOverflow(alignment - 1)
        if overflow { throw error(field(), .overflow) }
        offset = padded & ~(alignment - 1)
    }
}
