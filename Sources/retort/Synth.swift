import ArgumentParser
import RetortModel
import RetortRuntime

/// `retort synth`: a small random Llama model in an .rtm file, for tests that need a model file
/// without the teacher (the ARM64 cross-build test in tools/arm64-test.sh runs one on both sides).
struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a small random Llama model (.rtm) with a byte-level tokenizer of printable ASCII, for tests.")

    @Option(name: .long, help: "Output .rtm file.")
    var out: String

    @Option(name: .long, help: "Matrix storage: f32 | f16 | int8 (absmax per output channel, dynamic W8A8).")
    var weights = "int8"

    @Option(name: .long, help: "Seed of the random parameters.")
    var seed: UInt64 = 1

    func validate() throws {
        guard RTMWeightFormat(rawValue: weights) != nil else {
            throw ValidationError("--weights must be one of: " + RTMWeightFormat.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard out.hasSuffix(".rtm") else { throw ValidationError("--out: expected an .rtm path (got '\(out)')") }
    }

    func run() throws {
        let storage = RTMWeightFormat(rawValue: weights)!
        let tokenizer = SyntheticModel.tokenizer()
        let model = SyntheticModel.random(vocabSize: tokenizer.vocabularySize, seed: seed)
        let writer = makeRTM(model: model, tokenizer: tokenizer, weights: storage, provenance: [
            ("method", .string("random parameters, uniform in ±0.5 (norms 1 ± 0.2), seed \(seed)")),
            ("tool", .string("retort synth")),
        ])
        let bytes = writer.serialize()
        try writeAtomically(bytes, to: out)
        print("wrote \(out): \(storage.rawValue), \(model.config.parameterCount) parameters, \(bytes.count) bytes")
    }
}

/// The synthetic model: the shape of the runtime tests' tiny model (matrix widths multiples of 32,
/// so every fast kernel path runs), parameters from a seeded generator as in TinyModels.random.
enum SyntheticModel {
    /// V from the tokenizer, D=64, L=2, H=4, G=2, E=16, F=96, context 256, tied output.
    static func config(vocabSize: Int) -> LlamaConfig {
        LlamaConfig(vocabSize: vocabSize, dim: 64, layerCount: 2, headCount: 4, kvHeadCount: 2, ffnDim: 96,
                    ropeBase: 10_000, normEpsilon: 1e-5, contextLength: 256, tiedEmbeddings: true)
    }

    /// Parameters uniform in ±scale, norm weights 1 ± 0.2.
    static func random(vocabSize: Int, seed: UInt64, scale: Float = 0.5) -> LlamaModel {
        let model = LlamaModel(config: config(vocabSize: vocabSize))
        var rng = SeededGenerator(seed: seed)
        for entry in model.tensorTable {
            let isNorm = entry.name.hasSuffix("norm.weight")
            for i in 0..<entry.buffer.count {
                let u = rng.nextUnitFloat() * 2 - 1
                entry.buffer[i] = isNorm ? 1 + 0.2 * u : scale * u
            }
        }
        return model
    }

    /// Common English pairs, so the device's BPE has merges to apply (each result is a token).
    static let merges: [(String, String)] = [
        ("t", "h"), ("h", "e"), ("i", "n"), ("e", "r"), ("a", "n"), ("r", "e"), ("o", "n"), ("e", "n"),
        ("a", "t"), ("o", "r"), ("e", "s"), ("i", "s"), ("i", "t"), ("o", "u"), ("n", "d"), ("e", "d"),
        ("Ġ", "t"), ("Ġ", "a"), ("Ġ", "s"), ("Ġ", "w"), ("Ġ", "o"), ("Ġ", "b"), ("Ġ", "m"), ("Ġ", "h"),
        ("th", "e"), ("Ġt", "h"), ("Ġth", "e"), ("in", "g"), ("an", "d"), ("Ġa", "nd"), ("o", "f"), ("Ġ", "of"),
    ]

    /// Byte-level BPE ("gpt2" pre-tokenizer): the 94 printable ASCII characters, space (Ġ) and
    /// newline (Ċ) — 96 single-byte tokens — then one token per merge. No BOS/EOS, so greedy decoding
    /// always produces the requested number of tokens.
    static func tokenizer() -> TokenizerDefinition {
        var tokens: [[UInt8]] = (0x21...0x7E).map { [UInt8($0)] }
        tokens.append(Array("Ġ".utf8))
        tokens.append(Array("Ċ".utf8))
        var mergeStrings: [[UInt8]] = []
        for (a, b) in merges {
            tokens.append(Array((a + b).utf8))
            mergeStrings.append(Array((a + " " + b).utf8))
        }
        return TokenizerDefinition(preTokenizerName: "gpt2", tokens: tokens,
                                   tokenTypes: [Int32](repeating: 1, count: tokens.count), merges: mergeStrings,
                                   bosID: nil, eosID: nil, unknownID: nil, paddingID: nil, addBOS: false, addEOS: false)
    }
}
