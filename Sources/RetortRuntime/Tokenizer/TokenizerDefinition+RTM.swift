/// The tokenizer as stored in an .rtm file (formats/rtm.md, "Tokenizer").
extension TokenizerDefinition {
    public init(rtm file: RTMFile) throws(RuntimeError) {
        let f = try RTMTokenizerFields(file)
        self.init(model: f.model, preTokenizerName: f.pre, tokens: f.tokens.map { Array($0) }, tokenTypes: f.tokenTypes,
                  merges: f.merges.map { Array($0) }, bosID: f.bosID, eosID: f.eosID, unknownID: f.unknownID,
                  paddingID: f.paddingID, addBOS: f.addBOS, addEOS: f.addEOS)
    }

    /// Writes the `tokenizer.*` keys.
    public func write(into w: inout RTMWriter) {
        w.set("tokenizer.model", .string(model))
        w.set("tokenizer.pre", .string(preTokenizerName))
        w.set("tokenizer.tokens", .strings(tokens.map { String(decoding: $0, as: UTF8.self) }))
        w.set("tokenizer.token_types", .ints(tokenTypes.map { Int64($0) }))
        w.set("tokenizer.merges", .strings(merges.map { String(decoding: $0, as: UTF8.self) }))
        if let bosID { w.set("tokenizer.bos_id", .int(Int64(bosID))) }
        if let eosID { w.set("tokenizer.eos_id", .int(Int64(eosID))) }
        if let unknownID { w.set("tokenizer.unknown_id", .int(Int64(unknownID))) }
        if let paddingID { w.set("tokenizer.padding_id", .int(Int64(paddingID))) }
        w.set("tokenizer.add_bos", .bool(addBOS))
        w.set("tokenizer.add_eos", .bool(addEOS))
    }
}

extension BPETokenizer {
    /// The tokenizer of an .rtm file, built from the file's metadata directly (the vocabulary and
    /// merges are read in place, not copied, so loading a model peaks lower than through
    /// `TokenizerDefinition(rtm:).makeTokenizer()`, which gives the same tokenizer).
    public convenience init(rtm file: RTMFile) throws(RuntimeError) {
        let f = try RTMTokenizerFields(file)
        do {
            let pre = try TokenizerDefinition.preTokenizer(model: f.model, name: f.pre, fieldPrefix: "tokenizer.")
            self.init(parts: try BPEParts(tokens: f.tokens, tokenTypes: f.tokenTypes, merges: f.merges,
                                          preTokenizer: pre, bosID: f.bosID, eosID: f.eosID, unknownID: f.unknownID,
                                          paddingID: f.paddingID, addBOS: f.addBOS, addEOS: f.addEOS))
        } catch {
            throw RuntimeError(error, file: file.path)
        }
    }
}

/// The `tokenizer.*` keys of an .rtm file, read and range-checked; tokens and merges are views
/// of the file's bytes, valid while the file is open.
struct RTMTokenizerFields {
    var model: String, pre: String
    var tokens: [UnsafeRawBufferPointer], tokenTypes: [Int32], merges: [UnsafeRawBufferPointer]
    var bosID: Int32?, eosID: Int32?, unknownID: Int32?, paddingID: Int32?
    var addBOS: Bool, addEOS: Bool

    init(_ file: RTMFile) throws(RuntimeError) {
        func id(_ key: String) throws(RuntimeError) -> Int32? {
            guard let value = try rtm({ () throws(RTMError) in try file.optionalInt(key) }) else { return nil }
            guard value >= 0 && value < Int(Int32.max) else {
                throw RuntimeError(file: file.path, field: key, message: "id " + String(value) + " out of range")
            }
            return Int32(value)
        }
        tokens = try rtm { () throws(RTMError) in try file.stringElements("tokenizer.tokens") }
        let types = try rtm { () throws(RTMError) in try file.ints("tokenizer.token_types") }
        merges = try rtm { () throws(RTMError) in try file.stringElements("tokenizer.merges") }
        tokenTypes = []
        tokenTypes.reserveCapacity(types.count)
        for (i, t) in types.enumerated() {
            guard t >= 0 && t <= 6 else {
                throw RuntimeError(file: file.path, field: "tokenizer.token_types[" + String(i) + "]", message: "unknown token type " + String(t))
            }
            tokenTypes.append(Int32(t))
        }
        model = try rtm { () throws(RTMError) in try file.string("tokenizer.model") }
        pre = try rtm { () throws(RTMError) in try file.string("tokenizer.pre") }
        bosID = try id("tokenizer.bos_id")
        eosID = try id("tokenizer.eos_id")
        unknownID = try id("tokenizer.unknown_id")
        paddingID = try id("tokenizer.padding_id")
        addBOS = try rtm { () throws(RTMError) in try file.optionalBool("tokenizer.add_bos") } ?? false
        addEOS = try rtm { () throws(RTMError) in try file.optionalBool("tokenizer.add_eos") } ?? false
    }
}
