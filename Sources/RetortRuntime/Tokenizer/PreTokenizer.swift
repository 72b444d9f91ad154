/// How text is cut into words before BPE, as llama.cpp does it for a GGUF `tokenizer.ggml.pre`.
///
/// Each case is a fixed sequence of split stages; a stage cuts every piece of the previous stage
/// further and never joins pieces (llama.cpp's `unicode_regex_split`). The matchers are written by
/// hand to reproduce the regexes below exactly, including llama.cpp's reading of `\s`
/// (Unicode `White_Space`) and of a segment's end (whitespace before it is taken whole).
public enum PreTokenizer: Sendable, Equatable {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// `\p{N}` (each digit its own piece), then the gpt2 pattern. StarCoder, SmolLM, Command-R.
    case smollm
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
    /// a word that is itself a token skips BPE (`ignore_merges`).
    case llama3
    /// The llama3 pattern with `\p{N}` instead of `\p{N}{1,3}`, and merges always applied.
    case qwen2
    /// llama.cpp's fallback for `default` or a missing name: `[\p{P}$+<=>^~|]+`, the gpt2 pattern,
    /// `\p{N}+`, `[0-9][0-9][0-9]`.
    case `default`

    /// Names as written in GGUF `tokenizer.ggml.pre`, grouped as llama.cpp groups them; nil for a
    /// pre-tokenizer this runtime does not implement. An empty name is llama.cpp's `default`.
    public init?(name: String) {
        switch name {
        case "gpt2", "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de",
             "a.x-4.0", "mellum", "modern-bert", "jina-v1-en", "jina-v2-code", "roberta-bpe",
             "exaone4", "mpt", "olmo", "jais", "trillion", "granite-docling":
            self = .gpt2
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b", "mellum2":
            self = .smollm
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
             "jina-v5-nano":
            self = .llama3
        case "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "solar-open":
            self = .qwen2
        case "default", "":
            self = .default
        default:
            return nil
        }
    }

    /// Whether llama.cpp adds BOS for this pre-tokenizer when GGUF has no `add_bos_token`.
    public var addsBOSByDefault: Bool { self == .llama3 }

    /// A word that is a whole token is emitted as is, without merging (llama.cpp `ignore_merges`).
    var ignoresMerges: Bool { self == .llama3 }

    var stages: [SplitStage] {
        switch self {
        case .gpt2: return [.gpt2]
        case .smollm: return [.eachNumber, .gpt2]
        case .llama3: return [.llama3(maxDigits: 3)]
        case .qwen2: return [.llama3(maxDigits: 1)]
        case .default: return [.punctuationRuns, .gpt2, .numberRuns, .asciiDigitTriples]
        }
    }

    /// The words `text` is cut into (the pieces BPE sees, before byte-level encoding).
    public func split(_ text: [UInt8]) -> [[UInt8]] {
        var buffer = CodepointBuffer()
        buffer.load(text[...])
        var ends: [Int] = []
        var scratch: [Int] = []
        segment(buffer, ends: &ends, scratch: &scratch)
        var pieces: [[UInt8]] = []
        var start = 0
        for end in ends {
            pieces.append(Array(text[buffer.byteOffsets[start]..<buffer.byteOffsets[end]]))
            start = end
        }
        return pieces
    }

    /// Cuts `buffer` into pieces; `ends` receives each piece's end as a unit index.
    func segment(_ buffer: CodepointBuffer, ends: inout [Int], scratch: inout [Int]) {
        ends.removeAll(keepingCapacity: true)
        guard buffer.count > 0 else { return }
        ends.append(buffer.count)
        for stage in stages {
            scratch.removeAll(keepingCapacity: true)
            var start = 0
            for end in ends {
                stage.split(buffer, start, end, into: &scratch)
                start = end
            }
            swap(&ends, &scratch)
        }
    }
}
