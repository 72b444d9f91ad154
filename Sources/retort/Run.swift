import ArgumentParser
import Foundation
import RetortModel
import RetortRuntime

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text with RetortRuntime from an .rtm file: streams text, then prints load time and prefill/decode tokens/s.")

    @Option(name: .long, help: "Model file (.rtm).")
    var model: String

    @Option(name: .long, help: "Prompt text.")
    var prompt: String

    @OptionGroup var sampling: SamplingOptions

    @Option(name: .long, help: "Runtime threads (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "Context (KV cache) length; default: prompt + max tokens.")
    var context: Int?

    @Flag(name: .long, help: "Wrap the prompt in the model's chat format (<|im_start|>user … assistant).")
    var chat = false

    @Flag(name: .long, help: "Print generated token ids (one line) instead of text.")
    var ids = false

    @Option(name: .long, help: "Prompt tokens per prefill batch: the run state's scratch grows with it; 128 prefills as fast as 512 on SmolLM2-135M.")
    var prefillBatch = 128

    @Flag(name: .long, help: "Skip verifying tensor-data checksums at load (header, metadata and table are always verified).")
    var noVerify = false

    func validate() throws {
        guard FileManager.default.fileExists(atPath: model) else { throw ValidationError("--model: no such file '\(model)'") }
        if let threads, threads < 1 || threads > 256 { throw ValidationError("--threads must be in 1...256") }
        if let context, context < 1 { throw ValidationError("--context must be positive") }
        guard prefillBatch >= 1 else { throw ValidationError("--prefill-batch must be positive") }
    }

    func run() throws {
        let t0 = ContinuousClock.now
        let loaded = try RuntimeModel.load(path: model, verifyChecksums: !noVerify)
        let pool = ThreadPool(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let text = chat ? "<|im_start|>user\n\(prompt)<|im_end|>\n<|im_start|>assistant\n" : prompt
        let promptIDs = loaded.tokenizer.encode(text, addSpecial: true, parseSpecial: chat)
        let capacity = min(context ?? (promptIDs.count + sampling.maxTokens), loaded.config.contextLength)
        let session = RuntimeSession(model: loaded, capacity: max(capacity, promptIDs.count),
                                     maxBatch: min(max(promptIDs.count, 1), prefillBatch), pool: pool)
        let loadSeconds = (ContinuousClock.now - t0).seconds
        if !chat && !ids { writeStdout(Array(prompt.utf8)) }
        var stream = UTF8Stream()
        var generated: [Int32] = []
        let stats = try session.generate(prompt: promptIDs, maxTokens: sampling.maxTokens, sampler: sampling.settings) { id in
            generated.append(id)
            if !ids { writeStdout(stream.push(loaded.tokenizer.pieceBytes(id))) }
            return true
        }
        if ids {
            print(generated.map(String.init).joined(separator: " "))
        } else {
            writeStdout(stream.flush())
            writeStdout([10])
        }
        note("load: \(format(loadSeconds * 1000, 1)) ms (mmap, validation, tokenizer, \(session.stateBytes / 1_048_576) MiB run state); "
             + "kernels: \(Kernels.active); threads: \(pool.threadCount)")
        note("prefill: \(stats.promptTokens) tokens, \(format(stats.prefillTokensPerSecond, 1)) tokens/s; "
             + "decode: \(stats.generatedTokens) tokens, \(format(stats.decodeTokensPerSecond, 1)) tokens/s")
    }
}
