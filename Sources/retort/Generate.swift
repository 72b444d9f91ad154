import ArgumentParser
import Foundation
import RetortModel
import RetortRuntime

/// Sampling flags shared by generate (and, later, run).
struct SamplingOptions: ParsableArguments {
    @Option(name: .long, help: "Tokens to generate at most.")
    var maxTokens = 128

    @Option(name: .long, help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0.7

    @Option(name: .long, help: "Keep the K most likely tokens (0 = all).")
    var topK = 40

    @Option(name: .long, help: "Keep the smallest set of tokens with this probability mass (1 = off).")
    var topP: Float = 0.95

    @Option(name: .long, help: "Random seed.")
    var seed: UInt64 = 0

    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be ≥ 0") }
        guard temperature >= 0 && temperature.isFinite else { throw ValidationError("--temperature must be ≥ 0") }
        guard topK >= 0 else { throw ValidationError("--top-k must be ≥ 0") }
        guard topP > 0 && topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
    }

    var settings: SamplerSettings { SamplerSettings(temperature: temperature, topK: topK, topP: topP, seed: seed) }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text with the FP32 host model, streaming it, then print tokens/s.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var sampling: SamplingOptions

    @Option(name: .long, help: "Prompt text.")
    var prompt: String

    @Flag(name: .long, help: "Wrap the prompt in the model's chat format (<|im_start|>user … assistant).")
    var chat = false

    func run() throws {
        let loaded = try LoadedModel.open(modelOptions.model, threads: modelOptions.threads)
        note("loaded \(loaded.path) in \(format(loaded.loadSeconds)) s: \(loaded.model.config)")
        let text = chat
            ? "<|im_start|>user\n\(prompt)<|im_end|>\n<|im_start|>assistant\n"
            : prompt
        let ids = loaded.tokenizer.encode(text, addSpecial: true, parseSpecial: chat)
        if !chat { writeStdout(Array(prompt.utf8)) }
        var stream = UTF8Stream()
        let (_, stats) = try generate(
            model: loaded.model, prompt: ids,
            options: GenerationOptions(maxTokens: sampling.maxTokens, sampler: sampling.settings),
            isEndOfGeneration: { loaded.tokenizer.isEndOfGeneration($0) },
            onToken: { id in
                writeStdout(stream.push(loaded.tokenizer.pieceBytes(id)))
                return true
            })
        writeStdout(stream.flush())
        writeStdout([10])
        note("prompt: \(stats.promptTokens) tokens, \(format(stats.promptTokensPerSecond)) tokens/s; "
             + "generation: \(stats.generatedTokens) tokens, \(format(stats.generationTokensPerSecond)) tokens/s")
    }
}
