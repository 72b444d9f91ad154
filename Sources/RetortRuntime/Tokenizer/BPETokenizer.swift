/// Byte-level BPE tokenizer (GPT-2 family), token for token what llama.cpp produces for the same
/// vocabulary: special-token partition, pre-tokenizer split, then merge-rank BPE per word.
///
/// V = vocabulary size. Immutable after `init`, so one instance serves any number of threads;
/// each `encode` call keeps its own scratch buffers and word cache.
///
/// Deliberate differences from llama.cpp, both only for malformed input:
/// - bytes that are not valid UTF-8 are encoded as themselves (llama.cpp substitutes U+FFFD), so
///   `decode(encode(x)) == x` for every byte string; the split points are the same;
/// - merges must name vocabulary tokens (as Hugging Face `tokenizers` requires); llama.cpp
///   tolerates merges whose result is not a token.
public final class BPETokenizer: Sendable {
    public let bosID: Int32?
    public let eosID: Int32?
    public let unknownID: Int32?
    public let paddingID: Int32?
    public let addBOS: Bool
    public let addEOS: Bool
    public let preTokenizer: PreTokenizer

    let tokens: TokenTable                // (V) token strings as stored (byte-level form) and their ids
    let attributes: [TokenAttributes]     // (V) llama.cpp's token attributes, after its overrides
    let byteTokenIDs: [Int32]             // (256) id of the one-byte token for each byte, -1 if none
    let merges: [UInt64: MergeRule]       // (left id, right id) → rank and merged id
    let specialTokens: SpecialTokens
    let endOfGeneration: [Bool]           // (V)

    /// - Parameters:
    ///   - tokens: token strings as stored in GGUF (UTF-8 of the byte-level form, e.g. "Ġthe").
    ///   - tokenTypes: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte; empty means
    ///     all normal.
    ///   - merges: "Ġ t"-style pairs, highest priority first.
    public convenience init(tokens: [[UInt8]], tokenTypes: [Int32], merges: [[UInt8]], preTokenizer: PreTokenizer,
                            bosID: Int32?, eosID: Int32?, unknownID: Int32?, paddingID: Int32?,
                            addBOS: Bool, addEOS: Bool = false) throws(TokenizerError) {
        self.init(parts: try BPEParts(tokens: tokens, tokenTypes: tokenTypes, merges: merges, preTokenizer: preTokenizer,
                                      bosID: bosID, eosID: eosID, unknownID: unknownID, paddingID: paddingID,
                                      addBOS: addBOS, addEOS: addEOS))
    }

    init(parts p: BPEParts) {
        bosID = p.bosID
        eosID = p.eosID
        unknownID = p.unknownID
        paddingID = p.paddingID
        addBOS = p.addBOS
        addEOS = p.addEOS
        preTokenizer = p.preTokenizer
        tokens = p.tokens
        attributes = p.attributes
        byteTokenIDs = p.byteTokenIDs
        merges = p.merges
        specialTokens = p.specialTokens
        endOfGeneration = p.endOfGeneration
    }

    public var vocabularySize: Int { tokens.count }

    /// Raw bytes of one token, for streaming (may end inside a UTF-8 character). Control and
    /// user-defined tokens give their text; unused tokens and ids outside the vocabulary give none.
    /// Computed from the stored string on each call (no table of pieces kept: 0.7 MiB for a
    /// 49 K vocabulary, against a few hundred nanoseconds per token).
    public func pieceBytes(_ id: Int32) -> [UInt8] {
        guard id >= 0, Int(id) < tokens.count else { return [] }
        return attributes[Int(id)].piece(of: Array(tokens.token(Int(id))))
    }

    /// The concatenated pieces: `decode(encode(x, addSpecial: false)) == x` for any bytes `x`.
    /// Control tokens are rendered as their text (filter with `isEndOfGeneration` to hide them).
    public func decode(_ ids: [Int32]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 4)
        for id in ids where id >= 0 && Int(id) < tokens.count {
            out.append(contentsOf: pieceBytes(id))
        }
        return out
    }

    /// The token string as stored ("Ġthe"), for display; empty outside the vocabulary.
    public func tokenText(_ id: Int32) -> String {
        guard id >= 0, Int(id) < tokens.count else { return "" }
        return String(decoding: tokens.token(Int(id)), as: UTF8.self)
    }

    /// Whether generation stops at `id`: EOS, and the tokens llama.cpp treats as end of generation
    /// by their text (`<|im_end|>`, `<|endoftext|>`, `<|eot_id|>`, …, and FIM pad/repo/separator).
    public func isEndOfGeneration(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < endOfGeneration.count && endOfGeneration[Int(id)]
    }

    /// The id of a stored token string ("Ġthe", "<|im_end|>").
    public func id(of tokenString: String) -> Int32? {
        tokens.id(of: tokenString.utf8)
    }
}

/// One merge: its priority (lower merges first) and the token it makes.
struct MergeRule: Sendable {
    var rank: Int32
    var result: Int32

    static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }
}

/// llama.cpp's per-token attributes (`LLAMA_TOKEN_ATTR_*`), derived from the GGUF token type.
struct TokenAttributes: OptionSet, Sendable {
    let rawValue: UInt8

    static let normal = TokenAttributes(rawValue: 1 << 0)
    static let unknown = TokenAttributes(rawValue: 1 << 1)
    static let control = TokenAttributes(rawValue: 1 << 2)
    static let userDefined = TokenAttributes(rawValue: 1 << 3)
    static let unused = TokenAttributes(rawValue: 1 << 4)
    static let byte = TokenAttributes(rawValue: 1 << 5)

    init(rawValue: UInt8) { self.rawValue = rawValue }

    /// GGUF `tokenizer.ggml.token_type`; an unknown type has no attributes (renders as nothing).
    init(tokenType: Int32) {
        switch tokenType {
        case 1: self = .normal
        case 2: self = .unknown
        case 3: self = .control
        case 4: self = .userDefined
        case 5: self = .unused
        case 6: self = .byte
        default: self = []
        }
    }

    /// Split out of the text before pre-tokenizing (control and unknown only when parsing specials).
    var isSpecial: Bool { !isDisjoint(with: [.control, .userDefined, .unknown]) }

    /// The bytes a token stands for, as llama.cpp's `token_to_piece(special: true)` renders it.
    func piece(of text: [UInt8]) -> [UInt8] {
        if isSpecial { return text }
        if contains(.normal) { return ByteLevel.decode(text) }
        if contains(.byte) {
            // "<0xAB>" style byte tokens; anything else is read as byte-level text.
            if text.count == 6, text[0] == 0x3C, text[1] == 0x30, text[2] == 0x78, text[5] == 0x3E,
               let hi = hexValue(text[3]), let lo = hexValue(text[4]) {
                return [hi << 4 | lo]
            }
            return ByteLevel.decode(text)
        }
        return []
    }
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: return c - 0x30
    case 0x41...0x46: return c - 0x41 + 10
    case 0x61...0x66: return c - 0x61 + 10
    default: return nil
    }
}
