/// Text as llama.cpp's pre-tokenizers see it: one unit per code point, decoded the way
/// `unicode_cpts_from_utf8` decodes (lenient: overlong forms and surrogates are accepted; a byte
/// that starts no valid sequence is one unit read as U+FFFD). Each unit keeps its byte range, so
/// the original bytes — never a replacement character — go on to BPE and decode back losslessly.
///
/// N = number of units.
struct CodepointBuffer {
    var values: [UInt32] = []          // (N) code point values (U+FFFD for an invalid byte)
    var classes: [CodepointClass] = [] // (N)
    var byteOffsets: [Int] = []        // (N + 1) unit i is bytes byteOffsets[i] ..< byteOffsets[i + 1]

    var count: Int { values.count }

    /// Replaces the contents with the units of `bytes`; offsets are `bytes`' own indices.
    mutating func load(_ bytes: ArraySlice<UInt8>) {
        values.removeAll(keepingCapacity: true)
        classes.removeAll(keepingCapacity: true)
        byteOffsets.removeAll(keepingCapacity: true)
        values.reserveCapacity(bytes.count)
        classes.reserveCapacity(bytes.count)
        byteOffsets.reserveCapacity(bytes.count + 1)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let (value, length) = decodeUnit(bytes, at: i)
            values.append(value)
            classes.append(codepointClass(value))
            byteOffsets.append(i)
            i += length
        }
        byteOffsets.append(bytes.endIndex)
    }
}

/// One code point at `i`, as llama.cpp's `unicode_cpt_from_utf8` reads it, or (U+FFFD, 1).
func decodeUnit(_ bytes: ArraySlice<UInt8>, at i: Int) -> (value: UInt32, length: Int) {
    let end = bytes.endIndex
    let b0 = UInt32(bytes[i])
    if b0 & 0x80 == 0 { return (b0, 1) }
    func continuation(_ k: Int) -> UInt32? {
        guard i + k < end else { return nil }
        let b = bytes[i + k]
        return b & 0xC0 == 0x80 ? UInt32(b & 0x3F) : nil
    }
    let invalid: (UInt32, Int) = (0xFFFD, 1)
    if b0 & 0x40 == 0 { return invalid }
    if b0 & 0x20 == 0 {
        guard let c1 = continuation(1) else { return invalid }
        return ((b0 & 0x1F) << 6 | c1, 2)
    }
    if b0 & 0x10 == 0 {
        guard let c1 = continuation(1), let c2 = continuation(2) else { return invalid }
        return ((b0 & 0x0F) << 12 | c1 << 6 | c2, 3)
    }
    if b0 & 0x08 == 0 {
        guard let c1 = continuation(1), let c2 = continuation(2), let c3 = continuation(3) else { return invalid }
        return ((b0 & 0x07) << 18 | c1 << 12 | c2 << 6 | c3, 4)
    }
    return invalid
}

/// Appends the UTF-8 encoding of a code point below U+10000 (enough for the byte-level alphabet).
func appendUTF8(_ value: UInt32, to out: inout [UInt8]) {
    if value < 0x80 {
        out.append(UInt8(value))
    } else if value < 0x800 {
        out.append(UInt8(0xC0 | value >> 6))
        out.append(UInt8(0x80 | value & 0x3F))
    } else {
        out.append(UInt8(0xE0 | value >> 12))
        out.append(UInt8(0x80 | (value >> 6) & 0x3F))
        out.append(UInt8(0x80 | value & 0x3F))
    }
}
