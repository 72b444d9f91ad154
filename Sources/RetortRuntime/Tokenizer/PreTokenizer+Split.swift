/// One pass of a pre-tokenizer: cuts the segment `start ..< end` (unit indices) into pieces and
/// appends each piece's end to `ends`. Past the segment's end a matcher sees no character at all,
/// the way llama.cpp's splitters see `OUT_OF_RANGE`.
enum SplitStage: Sendable, Equatable {
    /// `\p{N}`: each number its own piece, the runs between kept whole.
    case eachNumber
    /// `\p{N}+`: runs of numbers cut out.
    case numberRuns
    /// `[\p{P}$+<=>^~|]+`: runs of punctuation cut out (ASCII: every symbol except `` ` ``).
    case punctuationRuns
    /// `[0-9][0-9][0-9]`: ASCII digit triples cut out, left to right.
    case asciiDigitTriples
    /// The GPT-2 pattern.
    case gpt2
    /// The llama3 pattern with `\p{N}{1,maxDigits}` (1 is Qwen2).
    case llama3(maxDigits: Int)

    func split(_ text: CodepointBuffer, _ start: Int, _ end: Int, into ends: inout [Int]) {
        switch self {
        case .eachNumber: isolate(text, start, end, into: &ends, maxRun: 1) { $0.isCollapsedNumber }
        case .numberRuns: isolate(text, start, end, into: &ends, maxRun: Int.max) { $0.isCollapsedNumber }
        case .punctuationRuns: isolate(text, start, end, into: &ends, maxRun: Int.max) { $0.isDefaultPunctuation }
        case .asciiDigitTriples: splitDigitTriples(text, start, end, into: &ends)
        case .gpt2: splitGPT2(text, start, end, into: &ends)
        case .llama3(let maxDigits): splitLlama3(text, start, end, maxDigits: maxDigits, into: &ends)
        }
    }
}

/// A unit as the regex stages that llama.cpp runs through `std::regex` see it.
private struct Unit {
    let value: UInt32
    let cls: CodepointClass

    /// `\p{N}` over llama.cpp's collapsed text: ASCII digits, or a non-ASCII number.
    var isCollapsedNumber: Bool {
        value < 0x80 ? (0x30...0x39).contains(value) : cls.contains(.number) && !cls.contains(.whitespace)
    }

    /// `[\p{P}\$\+<=>\^~\|]` over the collapsed text.
    var isDefaultPunctuation: Bool {
        if value < 0x80 {
            return cls.contains(.punctuation) || value == 0x24 || value == 0x2B || (0x3C...0x3E).contains(value)
                || value == 0x5E || value == 0x7C || value == 0x7E
        }
        return cls.contains(.punctuation) && !cls.contains(.whitespace)
    }
}

/// Cuts out runs (at most `maxRun` long) of units matching `matches`; what lies between stays whole.
private func isolate(_ text: CodepointBuffer, _ start: Int, _ end: Int, into ends: inout [Int],
                     maxRun: Int, _ matches: (Unit) -> Bool) {
    var pos = start
    var prev = start
    while pos < end {
        if matches(Unit(value: text.values[pos], cls: text.classes[pos])) {
            if pos > prev { ends.append(pos) }
            var run = 0
            while pos < end, run < maxRun, matches(Unit(value: text.values[pos], cls: text.classes[pos])) {
                pos += 1
                run += 1
            }
            ends.append(pos)
            prev = pos
        } else {
            pos += 1
        }
    }
    if end > prev { ends.append(end) }
}

private func splitDigitTriples(_ text: CodepointBuffer, _ start: Int, _ end: Int, into ends: inout [Int]) {
    func isDigit(_ i: Int) -> Bool { (0x30...0x39).contains(text.values[i]) }
    var pos = start
    var prev = start
    while pos < end {
        if pos + 3 <= end, isDigit(pos), isDigit(pos + 1), isDigit(pos + 2) {
            if pos > prev { ends.append(pos) }
            pos += 3
            ends.append(pos)
            prev = pos
        } else {
            pos += 1
        }
    }
    if end > prev { ends.append(end) }
}

private let apostrophe: UInt32 = 0x27
private let space: UInt32 = 0x20
private let carriageReturn: UInt32 = 0x0D
private let lineFeed: UInt32 = 0x0A

/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
private func splitGPT2(_ text: CodepointBuffer, _ start: Int, _ end: Int, into ends: inout [Int]) {
    func value(_ i: Int) -> UInt32? { i < end ? text.values[i] : nil }
    func cls(_ i: Int) -> CodepointClass { i < end ? text.classes[i] : [] }
    func isOther(_ c: CodepointClass) -> Bool {  // [^\s\p{L}\p{N}], and inside the segment
        c.contains(.present) && c.isDisjoint(with: [.whitespace, .letter, .number])
    }
    var pos = start
    while pos < end {
        let c = text.values[pos]
        if c == apostrophe, let n = value(pos + 1) {
            if n == 0x73 || n == 0x74 || n == 0x6D || n == 0x64 {  // s t m d
                pos += 2
                ends.append(pos)
                continue
            }
            if let nn = value(pos + 2), (n == 0x72 && nn == 0x65) || (n == 0x76 && nn == 0x65) || (n == 0x6C && nn == 0x6C) {
                pos += 3  // re ve ll
                ends.append(pos)
                continue
            }
        }
        let lead = c == space ? cls(pos + 1) : text.classes[pos]
        let skip = c == space ? 1 : 0
        if lead.contains(.letter) {
            pos += skip
            while cls(pos).contains(.letter) { pos += 1 }
            ends.append(pos)
            continue
        }
        if lead.contains(.number) {
            pos += skip
            while cls(pos).contains(.number) { pos += 1 }
            ends.append(pos)
            continue
        }
        if isOther(lead) {
            pos += skip
            while isOther(cls(pos)) { pos += 1 }
            ends.append(pos)
            continue
        }
        var spaces = 0
        while cls(pos + spaces).contains(.whitespace) { spaces += 1 }
        if spaces > 1 && pos + spaces < end {  // \s+(?!\S): leave the last one to the next word
            pos += spaces - 1
        } else if spaces > 0 {                 // \s+
            pos += spaces
        } else {
            pos += 1
        }
        ends.append(pos)
    }
}

/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,maxDigits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
private func splitLlama3(_ text: CodepointBuffer, _ start: Int, _ end: Int, maxDigits: Int, into ends: inout [Int]) {
    func value(_ i: Int) -> UInt32? { i < end ? text.values[i] : nil }
    func lower(_ v: UInt32) -> UInt32 { (0x41...0x5A).contains(v) ? v + 0x20 : v }
    func cls(_ i: Int) -> CodepointClass { i < end ? text.classes[i] : [] }
    func isOther(_ c: CodepointClass) -> Bool { c.isDisjoint(with: [.whitespace, .letter, .number]) }
    func isNewline(_ v: UInt32?) -> Bool { v == carriageReturn || v == lineFeed }
    var pos = start
    while pos < end {
        let c = text.values[pos]
        let here = text.classes[pos]
        if c == apostrophe, let next = value(pos + 1) {
            let n = lower(next)
            if n == 0x73 || n == 0x74 || n == 0x6D || n == 0x64 {
                pos += 2
                ends.append(pos)
                continue
            }
            if let nextNext = value(pos + 2) {
                let nn = lower(nextNext)
                if (n == 0x72 && nn == 0x65) || (n == 0x76 && nn == 0x65) || (n == 0x6C && nn == 0x6C) {
                    pos += 3
                    ends.append(pos)
                    continue
                }
            }
        }
        if !isNewline(c) && !here.contains(.number) && (here.contains(.letter) || cls(pos + 1).contains(.letter)) {
            pos += 1
            while cls(pos).contains(.letter) { pos += 1 }
            ends.append(pos)
            continue
        }
        if here.contains(.number) {
            var run = 0
            while cls(pos).contains(.number) {
                pos += 1
                run += 1
                if run == maxDigits {
                    ends.append(pos)
                    run = 0
                }
            }
            if run > 0 { ends.append(pos) }
            continue
        }
        let lead = c == space ? cls(pos + 1) : here
        if isOther(lead) {  // llama.cpp also requires the lead to be inside the segment, which `here` always is
            pos += c == space ? 1 : 0
            while cls(pos).contains(.present) && isOther(cls(pos)) { pos += 1 }
            while isNewline(value(pos)) { pos += 1 }
            ends.append(pos)
            continue
        }
        var spaces = 0
        var afterLastNewline = -1
        while cls(pos + spaces).contains(.whitespace) {
            if isNewline(text.values[pos + spaces]) { afterLastNewline = pos + spaces + 1 }
            spaces += 1
        }
        if afterLastNewline >= 0 {             // \s*[\r\n]+
            pos = afterLastNewline
        } else if spaces > 1 && pos + spaces < end {  // \s+(?!\S)
            pos += spaces - 1
        } else if spaces > 0 {                 // \s+
            pos += spaces
        } else {
            pos += 1
        }
        ends.append(pos)
    }
}
