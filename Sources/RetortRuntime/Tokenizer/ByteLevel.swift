/// GPT-2's byte-level alphabet: every byte is stored in token strings as one printable character.
/// Bytes `!`…`~`, `¡`…`¬` and `®`…`ÿ` stand for themselves; the other 68 (controls, space, DEL,
/// 0x80–0xA0, soft hyphen) map in order to U+0100…U+0143 — so a space is `Ġ` (U+0120).
enum ByteLevel {
    /// The character that stands for `byte`.
    static func character(for byte: UInt8) -> UInt32 {
        switch byte {
        case 0x21...0x7E, 0xA1...0xAC, 0xAE...0xFF: return UInt32(byte)
        case 0x00...0x20: return 0x100 + UInt32(byte)                // 33 characters
        case 0x7F...0xA0: return 0x100 + 33 + UInt32(byte - 0x7F)    // 34 characters
        default: return 0x100 + 67                                   // 0xAD
        }
    }

    /// The byte a character stands for, or nil when it is not in the alphabet.
    static func byte(for character: UInt32) -> UInt8? {
        switch character {
        case 0x21...0x7E, 0xA1...0xAC, 0xAE...0xFF: return UInt8(character)
        case 0x100...0x120: return UInt8(character - 0x100)
        case 0x121...0x142: return UInt8(character - 0x121 + 0x7F)
        case 0x143: return 0xAD
        default: return nil
        }
    }

    /// Appends the stored (UTF-8) form of `bytes`: "the cat" → "theĠcat".
    static func encode(_ bytes: ArraySlice<UInt8>, into out: inout [UInt8]) {
        for b in bytes { appendUTF8(character(for: b), to: &out) }
    }

    /// The raw bytes a stored token string stands for. A character outside the alphabet (only in
    /// a malformed vocabulary) is kept as its own UTF-8 bytes.
    static func decode(_ stored: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(stored.count)
        let slice = stored[...]
        var i = slice.startIndex
        while i < slice.endIndex {
            let (value, length) = decodeUnit(slice, at: i)
            if let b = byte(for: value) {
                out.append(b)
            } else {
                out.append(contentsOf: slice[i..<i + length])
            }
            i += length
        }
        return out
    }
}
