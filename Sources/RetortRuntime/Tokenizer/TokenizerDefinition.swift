/// Everything that defines a byte-level BPE tokenizer, as stored in a model file: the data a
/// `BPETokenizer` is built from, and what exporters write back out (GGUF, .rtm).
public struct TokenizerDefinition: Sendable, Equatable {
    public var model: String                 // "gpt2" (byte-level BPE)
    public var preTokenizerName: String      // as in GGUF tokenizer.ggml.pre, e.g. "smollm"
    public var tokens: [[UInt8]]             // (V) stored token strings (byte-level form)
    public var tokenTypes: [Int32]           // (V) or empty (all normal)
    public var merges: [[UInt8]]             // "Ġ t" pairs, highest priority first
    public var bosID: Int32?
    public var eosID: Int32?
    public var unknownID: Int32?
    public var paddingID: Int32?
    public var addBOS: Bool
    public var addEOS: Bool

    public init(model: String = "gpt2", preTokenizerName: String, tokens: [[UInt8]], tokenTypes: [Int32],
                merges: [[UInt8]], bosID: Int32?, eosID: Int32?, unknownID: Int32?, paddingID: Int32?,
                addBOS: Bool, addEOS: Bool) {
        self.model = model
        self.preTokenizerName = preTokenizerName
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.merges = merges
        self.bosID = bosID
        self.eosID = eosID
        self.unknownID = unknownID
        self.paddingID = paddingID
        self.addBOS = addBOS
        self.addEOS = addEOS
    }

    public var vocabularySize: Int { tokens.count }

    /// Builds the tokenizer; `fieldPrefix` names the keys in errors (e.g. "tokenizer.ggml.").
    public func makeTokenizer(fieldPrefix: String = "tokenizer.") throws(TokenizerError) -> BPETokenizer {
        let pre = try TokenizerDefinition.preTokenizer(model: model, name: preTokenizerName, fieldPrefix: fieldPrefix)
        return try BPETokenizer(tokens: tokens, tokenTypes: tokenTypes, merges: merges, preTokenizer: pre,
                                bosID: bosID, eosID: eosID, unknownID: unknownID, paddingID: paddingID,
                                addBOS: addBOS, addEOS: addEOS)
    }

    /// The pre-tokenizer of a byte-level BPE (`model` "gpt2") tokenizer named `name`.
    static func preTokenizer(model: String, name: String, fieldPrefix: String) throws(TokenizerError) -> PreTokenizer {
        guard model == "gpt2" else {
            throw TokenizerError(field: fieldPrefix + "model",
                                 message: "\"\(model)\" is not supported; only byte-level BPE (\"gpt2\") is")
        }
        guard let pre = PreTokenizer(name: name) else {
            throw TokenizerError(field: fieldPrefix + "pre",
                                 message: "pre-tokenizer \"\(name)\" is not supported (supported: the gpt2, smollm, llama3, qwen2 and default families)")
        }
        return pre
    }
}
