/// The tokenizer as stored in an .rtm file (formats/rtm.md, "Tokenizer").
extension TokenizerDefinition {
    public init(rtm file: RTMFile) throws(RuntimeError) {
        func id(_ key: String) throws(RuntimeError) -> Int32? {
            guard let value = try rtm({ () throws(RTMError) in try file.optionalInt(key) }) else { return nil }
            guard value >= 0 && value < Int(Int32.max) else {
                throw RuntimeError(file: file.path, field: key, message: "id " + String(value) + " out of range")
            }
            return Int32(value)
        }
        let tokens = try rtm { () throws(RTMError) in try file.strings("tokenizer.tokens") }
        let types = try rtm { () throws(RTMError) in try file.ints("tokenizer.token_types") }
        let merges = try rtm { () throws(RTMError) in try file.strings("tokenizer.merges") }
        var tokenTypes: [Int32] = []
        tokenTypes.reserveCapacity(types.count)
        for (i, t) in types.enumerated() {
            guard t >= 0 && t <= 6 else {
                throw RuntimeError(file: file.path, field: "tokenizer.token_types[" + String(i) + "]", message: "unknown token type " + String(t))
            }
            tokenTypes.append(Int32(t))
        }
        self.init(
            model: try rtm { () throws(RTMError) in try file.string("tokenizer.model") },
            preTokenizerName: try rtm { () throws(RTMError) in try file.string("tokenizer.pre") },
            tokens: tokens.map { Array($0.utf8) }, tokenTypes: tokenTypes, merges: merges.map { Array($0.utf8) },
            bosID: try id("tokenizer.bos_id"), eosID: try id("tokenizer.eos_id"),
            unknownID: try id("tokenizer.unknown_id"), paddingID: try id("tokenizer.padding_id"),
            addBOS: try rtm { () throws(RTMError) in try file.optionalBool("tokenizer.add_bos") } ?? false,
            addEOS: try rtm { () throws(RTMError) in try file.optionalBool("tokenizer.add_eos") } ?? false)
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
