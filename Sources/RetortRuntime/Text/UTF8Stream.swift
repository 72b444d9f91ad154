/// Buffers token bytes and releases only complete UTF-8 sequences, so streamed output never
/// splits a character across two writes. Invalid bytes are released as they are (lossless).
public struct UTF8Stream: Sendable {
    private var pending: [UInt8] = []

    public init() {}

    /// Appends `bytes` and returns the longest prefix that does not end inside a character.
    public mutating func push(_ bytes: [UInt8]) -> [UInt8] {
        pending += bytes
        var cut = pending.count
        // Walk back over at most 3 continuation bytes to find an unfinished lead byte.
        var i = pending.count - 1
        var continuation = 0
        while i >= 0 && continuation < 4 {
            let b = pending[i]
            if b & 0xC0 == 0x80 {
                continuation += 1
                i -= 1
                continue
            }
            let need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
            if need > continuation + 1 && b >= 0xC0 { cut = i }
            break
        }
        let out = Array(pending[0..<cut])
        pending.removeFirst(cut)
        return out
    }

    /// Whatever is still buffered (an unfinished sequence at the end of the stream).
    public mutating func flush() -> [UInt8] {
        defer { pending.removeAll() }
        return pending
    }
}
