/// Special tokens that are cut out of the text before pre-tokenizing, and llama.cpp's
/// recognition of end-of-generation and FIM tokens by their text.
struct SpecialTokens: Sendable {
    /// Control, user-defined and unknown tokens, longest text first (ties: lower id first).
    let parsed: [Int32]
    /// User-defined tokens only: these are split out even when specials are not parsed.
    let alwaysParsed: [Int32]
    let texts: [Int32: [UInt8]]  // text of each of those tokens

    init(tokens: TokenTable, attributes: [TokenAttributes]) {
        var ids: [Int32] = []
        for (i, attribute) in attributes.enumerated() where attribute.isSpecial && tokens.length(i) > 0 {
            ids.append(Int32(i))
        }
        ids.sort { a, b in
            let (la, lb) = (tokens.length(Int(a)), tokens.length(Int(b)))
            return la != lb ? la > lb : a < b
        }
        parsed = ids
        alwaysParsed = ids.filter { attributes[Int($0)].contains(.userDefined) }
        texts = Dictionary(uniqueKeysWithValues: ids.map { ($0, Array(tokens.token(Int($0)))) })
    }

    /// A stretch of input: plain text (a byte range) or one special token.
    enum Fragment: Equatable {
        case text(Range<Int>)
        case token(Int32)
    }

    /// Cuts `text` at occurrences of special tokens, as llama.cpp's `tokenizer_st_partition` does:
    /// each token in turn, longest first, takes its leftmost non-overlapping occurrences in the
    /// text that earlier (longer) tokens left over.
    func partition(_ text: [UInt8], parseSpecial: Bool) -> [Fragment] {
        guard !text.isEmpty else { return [] }
        let candidates = parseSpecial ? parsed : alwaysParsed
        guard !candidates.isEmpty else { return [.text(0..<text.count)] }

        // Positions of every byte some candidate starts with, bucketed by that byte.
        var startsWith = [Bool](repeating: false, count: 256)
        for id in candidates { startsWith[Int(texts[id]![0])] = true }
        var positions = [[Int]](repeating: [], count: 256)
        for (i, b) in text.enumerated() where startsWith[Int(b)] { positions[Int(b)].append(i) }

        var taken = [Bool](repeating: false, count: text.count)
        var matches: [(start: Int, id: Int32)] = []
        for id in candidates {
            let needle = texts[id]!
            for p in positions[Int(needle[0])] where p + needle.count <= text.count {
                var hit = true
                for k in 0..<needle.count where taken[p + k] || text[p + k] != needle[k] {
                    hit = false
                    break
                }
                guard hit else { continue }
                for k in 0..<needle.count { taken[p + k] = true }
                matches.append((p, id))
            }
        }
        guard !matches.isEmpty else { return [.text(0..<text.count)] }

        matches.sort { $0.start < $1.start }
        var fragments: [Fragment] = []
        var cursor = 0
        for match in matches {
            if match.start > cursor { fragments.append(.text(cursor..<match.start)) }
            fragments.append(.token(match.id))
            cursor = match.start + texts[match.id]!.count
        }
        if cursor < text.count { fragments.append(.text(cursor..<text.count)) }
        return fragments
    }

    // MARK: Recognition by text (llama.cpp `llama_vocab::impl::load`)

    /// Texts llama.cpp treats as end of generation (`special_eog_ids`, matched by text).
    static let endOfGenerationTexts: [String] = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
        "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
        "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
        "<｜end▁of▁sentence｜>", "[e~[",
    ]
    /// FIM tokens: the first token found of each group becomes control; pad, repo and separator
    /// also end generation.
    static let fillInTheMiddleTexts: [(endsGeneration: Bool, texts: [String])] = [
        (false, ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
                 "<|code_prefix|>", "<|prefix|>"]),
        (false, ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
                 "<|code_suffix|>", "<|suffix|>"]),
        (false, ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
                 "<|code_middle|>", "<|middle|>"]),
        (true, ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"]),
        (true, ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"]),
        (true, ["<|file_sep|>"]),
    ]

    /// Marks control-looking tokens as control (as llama.cpp overrides their type) and returns the
    /// end-of-generation flags (V): the texts above, the FIM pad/repo/separator tokens, and EOS.
    static func markControlLooking(_ tokens: TokenTable, eosID: Int32?,
                                   attributes: inout [TokenAttributes]) -> [Bool] {
        var endOfGeneration = [Bool](repeating: false, count: tokens.count)
        for (ends, texts) in fillInTheMiddleTexts {
            // llama.cpp takes whichever match its hash map yields first; the lowest id is our pick.
            guard let id = texts.compactMap({ tokens.id(of: $0.utf8) }).min() else { continue }
            attributes[Int(id)].insert(.control)
            if ends { endOfGeneration[Int(id)] = true }
        }
        for text in endOfGenerationTexts {
            guard let id = tokens.id(of: text.utf8) else { continue }
            attributes[Int(id)].insert(.control)
            endOfGeneration[Int(id)] = true
        }
        if let eosID { endOfGeneration[Int(eosID)] = true }
        return endOfGeneration
    }
}
