import RetortRuntime

/// Tiny synthetic byte-level vocabularies for tokenizer tests.
enum TokenizerTestVocabulary {
    /// The byte-level character that stands for `byte` (GPT-2's bytes↔unicode map).
    static func character(_ byte: UInt8) -> String {
        switch byte {
        case 0x21...0x7E, 0xA1...0xAC, 0xAE...0xFF: return String(Unicode.Scalar(byte))
        case 0x00...0x20: return String(Unicode.Scalar(0x100 + UInt32(byte))!)
        case 0x7F...0xA0: return String(Unicode.Scalar(0x100 + 33 + UInt32(byte - 0x7F))!)
        default: return String(Unicode.Scalar(0x143)!)
        }
    }

    /// Stored form of a byte string: "a b" → "aĠb".
    static func stored(_ text: String) -> String {
        text.utf8.map(character).joined()
    }

    /// Ids 0…255: the 256 one-byte tokens in byte order; then `words` (stored form) and
    /// `specials` in order. `merges` are stored-form pairs, highest priority first.
    static func make(words: [String] = [], merges: [String] = [],
                     specials: [(String, Int32)] = [], pre: PreTokenizer = .gpt2,
                     bos: Int32? = nil, eos: Int32? = nil, addBOS: Bool = false,
                     addEOS: Bool = false) throws(TokenizerError) -> BPETokenizer {
        var tokens = (0...255).map { Array(character(UInt8($0)).utf8) }
        tokens += words.map { Array($0.utf8) }
        tokens += specials.map { Array($0.0.utf8) }
        let types = [Int32](repeating: 1, count: 256 + words.count) + specials.map(\.1)
        return try BPETokenizer(tokens: tokens, tokenTypes: types, merges: merges.map { Array($0.utf8) },
                                preTokenizer: pre, bosID: bos, eosID: eos, unknownID: nil, paddingID: nil,
                                addBOS: addBOS, addEOS: addEOS)
    }

    /// Id of a one-byte token.
    static func byte(_ c: Character) -> Int32 { Int32(c.asciiValue!) }
}
