import RetortRuntime

extension TokenizerDefinition {
    /// The tokenizer stored in a GGUF file's `tokenizer.ggml.*` metadata, read as llama.cpp reads a
    /// byte-level BPE vocabulary.
    ///
    /// Missing optional keys take llama.cpp's defaults: no `token_type` means all tokens are
    /// normal, no `pre` is the `default` pre-tokenizer, no `add_bos_token` means "add BOS" only
    /// for llama3-style pre-tokenizers. Unknown and padding ids outside the vocabulary are ignored
    /// (llama.cpp warns and ignores them too); BOS and EOS ids outside it are an error.
    public init(gguf file: GGUFFile) throws {
        let model = try file.string("tokenizer.ggml.model")
        let preName = try file.optionalString("tokenizer.ggml.pre") ?? ""
        let tokens = try file.stringArray("tokenizer.ggml.tokens").map { Array($0.utf8) }
        let tokenTypes = file.value("tokenizer.ggml.token_type") == nil
            ? [] : try file.intArray("tokenizer.ggml.token_type").map { Int32(clamping: $0) }
        let merges = try file.stringArray("tokenizer.ggml.merges").map { Array($0.utf8) }

        func tokenID(_ name: String, required: Bool) throws -> Int32? {
            let key = "tokenizer.ggml.\(name)_token_id"
            guard let id = try file.optionalInt(key) else { return nil }
            if id >= 0 && id < tokens.count { return Int32(id) }
            if !required { return nil }
            throw TokenizerError(field: key, message: "id \(id) is outside the vocabulary of \(tokens.count) tokens")
        }
        let addBOS = try file.optionalBool("tokenizer.ggml.add_bos_token")
            ?? (PreTokenizer(name: preName)?.addsBOSByDefault ?? false)
        self.init(model: model, preTokenizerName: preName, tokens: tokens, tokenTypes: tokenTypes, merges: merges,
                  bosID: try tokenID("bos", required: true), eosID: try tokenID("eos", required: true),
                  unknownID: try tokenID("unknown", required: false), paddingID: try tokenID("padding", required: false),
                  addBOS: addBOS, addEOS: try file.optionalBool("tokenizer.ggml.add_eos_token") ?? false)
    }

    /// Writes the `tokenizer.ggml.*` keys llama.cpp reads.
    public func write(into w: inout GGUFWriter) {
        w.set("tokenizer.ggml.model", .string(model))
        w.set("tokenizer.ggml.pre", .string(preTokenizerName))
        w.set("tokenizer.ggml.tokens", .array(elementType: .string,
                                              values: tokens.map { .string(String(decoding: $0, as: UTF8.self)) }))
        if !tokenTypes.isEmpty {
            w.set("tokenizer.ggml.token_type", .array(elementType: .int32, values: tokenTypes.map { .int32($0) }))
        }
        w.set("tokenizer.ggml.merges", .array(elementType: .string,
                                              values: merges.map { .string(String(decoding: $0, as: UTF8.self)) }))
        for (name, id) in [("bos", bosID), ("eos", eosID), ("unknown", unknownID), ("padding", paddingID)] {
            if let id { w.set("tokenizer.ggml.\(name)_token_id", .uint32(UInt32(id))) }
        }
        w.set("tokenizer.ggml.add_bos_token", .bool(addBOS))
        w.set("tokenizer.ggml.add_eos_token", .bool(addEOS))
    }
}

extension BPETokenizer {
    /// The tokenizer stored in a GGUF file's `tokenizer.ggml.*` metadata (see
    /// `TokenizerDefinition.init(gguf:)`).
    ///
    /// - Throws: `GGUFError` for missing or mistyped keys, `TokenizerError` for an unsupported
    ///   model or pre-tokenizer or an inconsistent vocabulary, naming the key at fault.
    public static func load(gguf file: GGUFFile) throws -> BPETokenizer {
        try TokenizerDefinition(gguf: file).makeTokenizer(fieldPrefix: "tokenizer.ggml.")
    }
}
