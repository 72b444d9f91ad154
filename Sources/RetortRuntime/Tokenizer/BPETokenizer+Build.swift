/// Everything a `BPETokenizer` holds, built from a vocabulary and merges given as any collections
/// of bytes (`[[UInt8]]`, or `String.UTF8View`s of a file's metadata, with no copies). A struct, so
/// that the generic construction is allowed in Embedded Swift (classes cannot have generic methods
/// there).
struct BPEParts {
    let bosID: Int32?
    let eosID: Int32?
    let unknownID: Int32?
    let paddingID: Int32?
    let addBOS: Bool
    let addEOS: Bool
    let preTokenizer: PreTokenizer
    let tokens: TokenTable                // (V) token strings as stored (byte-level form) and their ids
    let attributes: [TokenAttributes]     // (V) llama.cpp's token attributes, after its overrides
    let byteTokenIDs: [Int32]             // (256) id of the one-byte token for each byte, -1 if none
    let merges: [UInt64: MergeRule]       // (left id, right id) → rank and merged id
    let specialTokens: SpecialTokens
    let endOfGeneration: [Bool]           // (V)

    init<Token: Collection, Merge: Collection>(
        tokens: [Token], tokenTypes: [Int32], merges: [Merge], preTokenizer: PreTokenizer,
        bosID: Int32?, eosID: Int32?, unknownID: Int32?, paddingID: Int32?,
        addBOS: Bool, addEOS: Bool = false) throws(TokenizerError) where Token.Element == UInt8, Merge.Element == UInt8 {
        let vocabularySize = tokens.count
        guard vocabularySize > 0 else {
            throw TokenizerError(field: "tokenizer.ggml.tokens", message: "the vocabulary is empty")
        }
        guard tokenTypes.isEmpty || tokenTypes.count >= vocabularySize else {
            throw TokenizerError(field: "tokenizer.ggml.token_type",
                                 message: "\(tokenTypes.count) types for \(vocabularySize) tokens")
        }
        for (field, id) in [("bos", bosID), ("eos", eosID), ("unknown", unknownID), ("padding", paddingID)] {
            if let id, id < 0 || Int(id) >= vocabularySize {
                throw TokenizerError(field: "tokenizer.ggml.\(field)_token_id",
                                     message: "id \(id) is outside the vocabulary of \(vocabularySize) tokens")
            }
        }

        // Token strings; llama.cpp renames an empty one and rejects duplicates.
        var table = TokenTable(capacity: vocabularySize)
        for (i, token) in tokens.enumerated() {
            let first = token.isEmpty ? table.append(Array("[EMPTY_\(i)]".utf8)) : table.append(token)
            if let first {
                throw TokenizerError(field: "tokenizer.ggml.tokens[\(i)]",
                                     message: "duplicate of token \(first) \"\(String(decoding: Array(token), as: UTF8.self))\"")
            }
        }

        var attributes = tokenTypes.isEmpty
            ? [TokenAttributes](repeating: .normal, count: vocabularySize)
            : tokenTypes.prefix(vocabularySize).map(TokenAttributes.init(tokenType:))
        let endOfGeneration = SpecialTokens.markControlLooking(table, eosID: eosID, attributes: &attributes)

        var byteTokenIDs = [Int32](repeating: -1, count: 256)
        var encoded: [UInt8] = []
        for b in 0..<256 {
            encoded.removeAll(keepingCapacity: true)
            appendUTF8(ByteLevel.character(for: UInt8(b)), to: &encoded)
            byteTokenIDs[b] = table.id(of: encoded) ?? -1
        }

        // Merges: "left right", split at the first space after the first byte (a token may be " ").
        var rules: [UInt64: MergeRule] = [:]
        rules.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() {
            let field = "tokenizer.ggml.merges[\(rank)]"
            guard merge.count >= 3, let cut = merge.dropFirst().firstIndex(of: 0x20) else {
                throw TokenizerError(field: field, message: "expected \"left right\", got \"\(String(decoding: Array(merge), as: UTF8.self))\"")
            }
            let left = merge[..<cut], right = merge[merge.index(after: cut)...]
            let joined = Array(left) + Array(right)
            guard let leftID = table.id(of: left), let rightID = table.id(of: right), let resultID = table.id(of: joined) else {
                let missing = table.id(of: left) == nil ? Array(left) : table.id(of: right) == nil ? Array(right) : joined
                throw TokenizerError(field: field,
                                     message: "\"\(String(decoding: missing, as: UTF8.self))\" is not in the vocabulary")
            }
            let key = MergeRule.key(leftID, rightID)
            if rules[key] == nil {  // the first occurrence of a pair wins, as in llama.cpp
                rules[key] = MergeRule(rank: Int32(rank), result: resultID)
            }
        }

        self.bosID = bosID
        self.eosID = eosID
        self.unknownID = unknownID
        self.paddingID = paddingID
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.preTokenizer = preTokenizer
        self.tokens = table
        self.attributes = attributes
        self.byteTokenIDs = byteTokenIDs
        self.merges = rules
        self.specialTokens = SpecialTokens(tokens: table, attributes: attributes)
        self.endOfGeneration = endOfGeneration
    }
}
