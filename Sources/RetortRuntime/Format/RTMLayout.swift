/// The on-disk layout of `.rtm` (formats/rtm.md): constants and the fixed-size records, each
/// defined once. A record's `code(_:)` lists its fields in file order; the reader runs it with a
/// decoder, the writer with an encoder, so the two cannot drift. Every field is encoded explicitly
/// little-endian; the Swift structs happen to have the same layout (tests pin it) but I/O never
/// relies on that.
enum RTMLayout {
    /// `\x89RTM\r\n\x1a\n`.
    static let magic: [UInt8] = [0x89, 0x52, 0x54, 0x4D, 0x0D, 0x0A, 0x1A, 0x0A]
    static let versionMajor: UInt16 = 1
    /// The newest minor version this code knows; reserved bytes are checked only up to it.
    static let versionMinor: UInt16 = 1

    static let headerSize = 128
    /// Bytes of the header covered by `headerChecksum` (all before it).
    static let headerChecksummedBytes = 120
    static let tensorRecordSize = 128
    static let metadataEntryHeaderSize = 16
    /// Smallest possible metadata entry: entry header + a padded 1-byte key + an empty payload.
    static let minimumMetadataEntrySize = 24

    /// Alignment the writer uses for tensor data and scales (and every section start).
    static let defaultAlignment = 64
    static let alignmentRange = 64 ... 65536
    static let maxKeyLength = 1024
    static let maxNameLength = 1024

    /// Value type ids of metadata entries.
    enum ValueType {
        static let int: UInt32 = 1, float: UInt32 = 2, bool: UInt32 = 3, string: UInt32 = 4
        static let ints: UInt32 = 5, floats: UInt32 = 6, strings: UInt32 = 7
    }

    /// `n` rounded up to a multiple of `alignment` (a power of two); nil on overflow.
    static func align(_ n: Int, to alignment: Int) -> Int? {
        let (padded, overflow) = n.addingReportingOverflow(alignment - 1)
        return overflow ? nil : padded & ~(alignment - 1)
    }

    /// `n` rounded up to a multiple of 8, for lengths already known to lie inside a buffer.
    static func pad8(_ n: Int) -> Int { (n + 7) & ~7 }
}

// MARK: - Field coding

/// Visits the fields of a record in file order: reads them (decoder) or writes them (encoder).
protocol RTMFieldCoder {
    mutating func code(_ value: inout UInt16)
    mutating func code(_ value: inout UInt32)
    mutating func code(_ value: inout UInt64)
}

/// Appends fields little-endian.
struct RTMFieldEncoder: RTMFieldCoder {
    var bytes: [UInt8] = []

    mutating func code(_ value: inout UInt16) { append(UInt64(value), byteCount: 2) }
    mutating func code(_ value: inout UInt32) { append(UInt64(value), byteCount: 4) }
    mutating func code(_ value: inout UInt64) { append(value, byteCount: 8) }

    private mutating func append(_ value: UInt64, byteCount: Int) {
        for i in 0 ..< byteCount { bytes.append(UInt8(truncatingIfNeeded: value &>> UInt64(8 * i))) }
    }
}

/// Reads fields little-endian from `bytes` starting at `offset`. The caller has checked that the
/// whole record lies inside `bytes`; the precondition only guards against bugs in this module.
struct RTMFieldDecoder: RTMFieldCoder {
    let bytes: UnsafeRawBufferPointer
    var offset: Int

    mutating func code(_ value: inout UInt16) { value = UInt16(truncatingIfNeeded: read(2)) }
    mutating func code(_ value: inout UInt32) { value = UInt32(truncatingIfNeeded: read(4)) }
    mutating func code(_ value: inout UInt64) { value = read(8) }

    private mutating func read(_ byteCount: Int) -> UInt64 {
        precondition(offset >= 0 && byteCount <= bytes.count - offset, "RTM record read out of bounds")
        var value: UInt64 = 0
        for i in 0 ..< byteCount { value |= UInt64(bytes[offset + i]) &<< UInt64(8 * i) }
        offset += byteCount
        return value
    }
}

/// A fixed-size record coded field by field.
protocol RTMRecord {
    init()
    mutating func code<Coder: RTMFieldCoder>(_ coder: inout Coder)
}

extension RTMRecord {
    /// Decodes the record at `offset`; the caller has checked the bounds.
    static func decode(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Self {
        var record = Self()
        var decoder = RTMFieldDecoder(bytes: bytes, offset: offset)
        record.code(&decoder)
        return record
    }

    /// Appends the record's encoding to `bytes`.
    func encode(into bytes: inout [UInt8]) {
        var copy = self
        var encoder = RTMFieldEncoder(bytes: bytes)
        bytes = []  // keep a single reference so appending does not copy
        copy.code(&encoder)
        bytes = encoder.bytes
    }

    func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        encode(into: &bytes)
        return bytes
    }
}

// MARK: - Records

/// The 128-byte file header at offset 0.
struct RTMFileHeader: RTMRecord, Equatable {
    var magic: UInt64 = 0                 //   0  `\x89RTM\r\n\x1a\n` as a little-endian u64
    var versionMajor: UInt16 = 0          //   8
    var versionMinor: UInt16 = 0          //  10
    var flags: UInt32 = 0                 //  12  reserved, 0
    var alignment: UInt32 = 0             //  16  tensor data / scale alignment
    var reserved0: UInt32 = 0             //  20
    var fileSize: UInt64 = 0              //  24
    var metadataOffset: UInt64 = 0        //  32
    var metadataSize: UInt64 = 0          //  40
    var metadataCount: UInt64 = 0         //  48
    var tableOffset: UInt64 = 0           //  56
    var tableSize: UInt64 = 0             //  64
    var tensorCount: UInt64 = 0           //  72
    var dataOffset: UInt64 = 0            //  80
    var dataSize: UInt64 = 0              //  88
    var metadataChecksum: UInt64 = 0      //  96
    var tableChecksum: UInt64 = 0         // 104
    var reserved1: UInt64 = 0             // 112
    var headerChecksum: UInt64 = 0        // 120  XXH64 of bytes 0 ..< 120

    static var magicValue: UInt64 {
        var value: UInt64 = 0
        for (i, byte) in RTMLayout.magic.enumerated() { value |= UInt64(byte) &<< UInt64(8 * i) }
        return value
    }

    mutating func code<Coder: RTMFieldCoder>(_ c: inout Coder) {
        c.code(&magic)
        c.code(&versionMajor)
        c.code(&versionMinor)
        c.code(&flags)
        c.code(&alignment)
        c.code(&reserved0)
        c.code(&fileSize)
        c.code(&metadataOffset)
        c.code(&metadataSize)
        c.code(&metadataCount)
        c.code(&tableOffset)
        c.code(&tableSize)
        c.code(&tensorCount)
        c.code(&dataOffset)
        c.code(&dataSize)
        c.code(&metadataChecksum)
        c.code(&tableChecksum)
        c.code(&reserved1)
        c.code(&headerChecksum)
    }
}

/// One 128-byte record of the tensor table.
struct RTMTensorRecord: RTMRecord, Equatable {
    var nameOffset: UInt32 = 0            //   0  relative to the name pool
    var nameLength: UInt32 = 0            //   4
    var dtype: UInt32 = 0                 //   8
    var rank: UInt32 = 0                  //  12
    var dim0: UInt64 = 0                  //  16  innermost
    var dim1: UInt64 = 0                  //  24
    var dim2: UInt64 = 0                  //  32
    var dim3: UInt64 = 0                  //  40
    var dataOffset: UInt64 = 0            //  48  absolute
    var dataSize: UInt64 = 0              //  56
    var scaleOffset: UInt64 = 0           //  64  absolute, 0 = none
    var scaleCount: UInt64 = 0            //  72
    var groupSize: UInt32 = 0             //  80
    var activationScaleBits: UInt32 = 0   //  84  f32 bit pattern, 0 = none
    var dataChecksum: UInt64 = 0          //  88
    var scaleChecksum: UInt64 = 0         //  96
    var activationDigits: UInt32 = 0      // 104  since 1.1: 0 = one int8 digit, 2 = two (reserved in 1.0)
    var reserved0: UInt32 = 0             // 108
    var reserved1: UInt64 = 0             // 112
    var reserved2: UInt64 = 0             // 120

    var dims: [UInt64] {
        get { [dim0, dim1, dim2, dim3] }
        set {
            precondition(newValue.count <= RTMShape.maxRank)
            let padded = newValue + [UInt64](repeating: 0, count: RTMShape.maxRank - newValue.count)
            (dim0, dim1, dim2, dim3) = (padded[0], padded[1], padded[2], padded[3])
        }
    }

    var activationScale: Float {
        get { Float(bitPattern: activationScaleBits) }
        set { activationScaleBits = newValue.bitPattern }
    }

    mutating func code<Coder: RTMFieldCoder>(_ c: inout Coder) {
        c.code(&nameOffset)
        c.code(&nameLength)
        c.code(&dtype)
        c.code(&rank)
        c.code(&dim0)
        c.code(&dim1)
        c.code(&dim2)
        c.code(&dim3)
        c.code(&dataOffset)
        c.code(&dataSize)
        c.code(&scaleOffset)
        c.code(&scaleCount)
        c.code(&groupSize)
        c.code(&activationScaleBits)
        c.code(&dataChecksum)
        c.code(&scaleChecksum)
        c.code(&activationDigits)
        c.code(&reserved0)
        c.code(&reserved1)
        c.code(&reserved2)
    }
}

/// The 16 bytes that open every metadata entry; the key and the payload follow.
struct RTMMetadataEntryHeader: RTMRecord, Equatable {
    var keyLength: UInt32 = 0             //   0
    var valueType: UInt32 = 0             //   4
    var valueCount: UInt64 = 0            //   8  1 for scalars, byte length for a string, else elements

    mutating func code<Coder: RTMFieldCoder>(_ c: inout Coder) {
        c.code(&keyLength)
        c.code(&valueType)
        c.code(&valueCount)
    }
}
