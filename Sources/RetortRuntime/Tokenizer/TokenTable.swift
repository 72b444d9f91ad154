/// The vocabulary's stored token strings in one byte buffer, with an open-addressing index from
/// string to id: about 13 bytes per token (bytes, a 4-byte offset, two 4-byte slots), where an
/// array per token plus a dictionary entry cost over 80.
struct TokenTable: Sendable {
    private(set) var bytes: [UInt8] = []
    private(set) var offsets: [Int32] = [0]      // (V + 1) token i is bytes[offsets[i] ..< offsets[i + 1]]
    private var slots: [Int32]                   // ids, -1 = empty; capacity a power of two ≥ 2·V
    private let mask: Int

    /// An empty table with room for `capacity` tokens.
    init(capacity: Int) {
        var size = 16
        while size < 2 * capacity { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        offsets.reserveCapacity(capacity + 1)
    }

    var count: Int { offsets.count - 1 }

    /// Bytes of token `i` (0-based indices into a fresh array are not implied: use `startIndex`).
    func token(_ i: Int) -> ArraySlice<UInt8> {
        bytes[Int(offsets[i]) ..< Int(offsets[i + 1])]
    }

    func length(_ i: Int) -> Int { Int(offsets[i + 1] - offsets[i]) }

    /// Appends `text` as the next id, or returns the id that already holds it (nothing appended).
    mutating func append<C: Collection>(_ text: C) -> Int32? where C.Element == UInt8 {
        let hash = TokenTable.hash(text)
        var slot = hash & mask
        while slots[slot] >= 0 {
            if equal(Int(slots[slot]), text) { return slots[slot] }
            slot = (slot + 1) & mask
        }
        precondition(count < Int(Int32.max) && bytes.count + text.count < Int(Int32.max), "TokenTable: too large")
        slots[slot] = Int32(count)
        bytes.append(contentsOf: text)
        offsets.append(Int32(bytes.count))
        return nil
    }

    /// The id of `text`, if it is a token.
    func id<C: Collection>(of text: C) -> Int32? where C.Element == UInt8 {
        var slot = TokenTable.hash(text) & mask
        while slots[slot] >= 0 {
            if equal(Int(slots[slot]), text) { return slots[slot] }
            slot = (slot + 1) & mask
        }
        return nil
    }

    private func equal<C: Collection>(_ i: Int, _ text: C) -> Bool where C.Element == UInt8 {
        let start = Int(offsets[i]), end = Int(offsets[i + 1])
        guard end - start == text.count else { return false }
        var k = start
        for b in text {
            if bytes[k] != b { return false }
            k += 1
        }
        return true
    }

    /// FNV-1a, 64-bit, folded to Int.
    private static func hash<C: Collection>(_ text: C) -> Int where C.Element == UInt8 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in text { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return Int(truncatingIfNeeded: h ^ (h >> 32))
    }
}
