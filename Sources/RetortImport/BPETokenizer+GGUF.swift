import RetortRuntime

extension BPETokenizer {
    /// The tokenizer stored in a GGUF file's `tokenizer.ggml.*` metadata, read as llama.cpp reads a
    /// byte-level BPE (`tokenizer.ggml.model` = "gpt2") vocabulary.
    ///
    /// Missing optional keys take llama.cpp's defaults: no `token_type` means all tokens are
    /// normal, no `pre` is the `default` pre-tokenizer, no `add_bos_token` means "add BOS" only
    /// for llama3-style pre-tokenizers. Unknown and padding ids outside the vocabulary are ignored
    /// (llama.cpp warns and ignores them too); BOS and EOS ids outside it are an error.
    ///
    /// - Throws: `GGUFError` for missing or mistyped keys, `TokenizerError` for an unsupported
    ///   model or pre-tokenizer or an inconsistent vocabulary, naming the key at fault.
    public convenience init(gguf file: GGUFFile) throws {
        let model = try file.string("tokenizer.ggml.model")
        guard model == "gpt2" else {
            throw TokenizerError(field: "tokenizer.ggml.model",
                                 message: "\"\(model)\" is not supported; only byte-level BPE (\"gpt2\") is")
        }
        let preName = try file.optionalString("tokenizer.ggml.pre") ?? ""
        guard let preTokenizer = PreTokenizer(name: preName) else {
            throw TokenizerError(field: "tokenizer.ggml.pre",
                                 message: "pre-tokenizer \"\(preName)\" is not supported (supported: the gpt2, smollm, llama3, qwen2 and default families)")
        }
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

        try self.init(
            tokens: tokens, tokenTypes: tokenTypes, merges: merges, preTokenizer: preTokenizer,
            bosID: try tokenID("bos", required: true), eosID: try tokenID("eos", required: true),
            unknownID: try tokenID("unknown", required: false), paddingID: try tokenID("padding", required: false),
            addBOS: try file.optionalBool("tokenizer.ggml.add_bos_token") ?? preTokenizer.addsBOSByDefault,
            addEOS: try file.optionalBool("tokenizer.ggml.add_eos_token") ?? false)
    }
}
