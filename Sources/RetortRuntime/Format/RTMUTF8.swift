/// Strict UTF-8 validation (no Unicode tables, Embedded-friendly): rejects continuation bytes
/// without a lead, overlong forms, surrogates (U+D800...U+DFFF), code points above U+10FFFF and
/// truncated sequences.
func rtmIsValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
    let count = bytes.count
    var i = 0
    while i < count {
        // ASCII fast path, eight bytes at a time.
        if i + 8 <= count,
           bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
            i += 8
            continue
        }
        let b0 = bytes[i]
        if b0 < 0x80 {
            i += 1
        } else if b0 < 0xC2 {
            return false  // stray continuation byte, or overlong 2-byte form
        } else if b0 < 0xE0 {
            guard i + 1 < count, isContinuation(bytes[i + 1]) else { return false }
            i += 2
        } else if b0 < 0xF0 {
            guard i + 2 < count else { return false }
            let b1 = bytes[i + 1]
            guard isContinuation(b1), isContinuation(bytes[i + 2]) else { return false }
            if b0 == 0xE0 && b1 < 0xA0 { return false }  // overlong
            if b0 == 0xED && b1 >= 0xA0 { return false }  // surrogate
            i += 3
        } else if b0 < 0xF5 {
            guard i + 3 < count else { return false }
            let b1 = bytes[i + 1]
            guard isContinuation(b1), isContinuation(bytes[i + 2]), isContinuation(bytes[i + 3]) else { return false }
            if b0 == 0xF0 && b1 < 0x90 { return false }  // overlong
            if b0 == 0xF4 && b1 >= 0x90 { return false }  // above U+10FFFF
            i += 4
        } else {
            return false
        }
    }
    return true
}

@inline(__always)
private func isContinuation(_ byte: UInt8) -> Bool { byte & 0xC0 == 0x80 }
