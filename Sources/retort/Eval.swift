import ArgumentParser
import Foundation
import RetortModel
import RetortRuntime

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure perplexity of a model on a text.",
        discussion: """
        Protocols (docs/EVALUATION.md):
          sliding    windows of --context tokens advancing by --stride (default context/2); every token \
        after the first is scored once, with the most left context available. BOS prepended to each \
        window only if the model adds BOS.
          llama.cpp  llama-perplexity's protocol: ⌊n/context⌋ disjoint chunks, only the second half \
        of each chunk scored.
        """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Text file to evaluate.")
    var text: String

    @Option(name: .long, help: "Window length in tokens.")
    var context = 512

    @Option(name: .long, help: "Sliding protocol: tokens the window advances by (default context/2).")
    var stride: Int?

    @Option(name: .long, help: "Evaluate only the first N tokens of the text.")
    var maxTokens: Int?

    @Option(name: .long, help: "sliding | llama.cpp")
    var `protocol` = "sliding"

    @Flag(name: .long, help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        guard FileManager.default.fileExists(atPath: text) else { throw ValidationError("--text: no such file '\(text)'") }
        guard context >= 4 && context <= 1 << 16 else { throw ValidationError("--context must be in 4...65536") }
        if let stride, stride < 1 || stride > context { throw ValidationError("--stride must be in 1...context") }
        if let maxTokens, maxTokens < 2 { throw ValidationError("--max-tokens must be ≥ 2") }
        guard PerplexityProtocol(rawValue: `protocol`) != nil else {
            throw ValidationError("--protocol must be one of: " + PerplexityProtocol.allCases.map(\.rawValue).joined(separator: ", "))
        }
    }

    func run() throws {
        let bytes = try readTextFile(text, option: "--text")
        let method = PerplexityProtocol(rawValue: `protocol`)!
        let options = PerplexityOptions(context: context, stride: stride, maxTokens: maxTokens, method: method)
        let progress: (Int, Int, Double) -> Void = { done, total, ppl in
            if done == total || done % max(1, total / 20) == 0 {
                note("[\(done)/\(total)] perplexity so far \(format(ppl, 4))")
            }
        }
        let result: PerplexityResult
        let bos: Int32?
        let clock = ContinuousClock()
        if modelOptions.model.hasSuffix(".rtm") {
            // Through RetortRuntime: the kernels a device runs.
            let t0 = clock.now
            let model = try RuntimeModel.load(path: modelOptions.model)
            let pool = ThreadPool(threads: modelOptions.threads ?? ProcessInfo.processInfo.activeProcessorCount)
            note("loaded \(modelOptions.model) in \(format(t0.duration(to: clock.now).seconds)) s (runtime, kernels \(Kernels.active), \(pool.threadCount) threads)")
            let tokens = model.tokenizer.encode(bytes, addSpecial: false)
            bos = model.tokenizer.addBOS ? model.tokenizer.bosID : nil
            let session = RuntimeSession(model: model, capacity: context, maxBatch: context, allLogits: true, pool: pool)
            result = try evaluatePerplexity(vocabularySize: model.config.vocabSize, tokens: tokens, bos: bos,
                                            options: options, source: text, progress: progress) { window in
                session.reset()
                return try session.forward(window, logits: .all)
            }
        } else {
            let loaded = try LoadedModel.open(modelOptions.model, threads: modelOptions.threads)
            note("loaded \(loaded.path) in \(format(loaded.loadSeconds)) s (host FP32)")
            let t0 = clock.now
            let tokens = loaded.tokenizer.encode(bytes, addSpecial: false)
            note("tokenized \(bytes.count) bytes into \(tokens.count) tokens in \(format(t0.duration(to: clock.now).seconds)) s")
            bos = loaded.tokenizer.addBOS ? loaded.tokenizer.bosID : nil
            result = try evaluatePerplexity(model: loaded.model, tokens: tokens, bos: bos, options: options,
                                            source: text, progress: progress)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(data: try encoder.encode(EvalReport(result: result, model: modelOptions.model, text: text)), encoding: .utf8)!)
        } else {
            print("model: \(modelOptions.model)")
            print("text: \(text) (\(result.textTokens) tokens)")
            print("protocol: \(result.method), context \(result.context), stride \(result.stride), \(result.windows) windows, BOS \(bos == nil ? "no" : "yes")")
            print("scored tokens: \(result.scoredTokens)")
            print("mean NLL: \(format(result.meanNLL, 5)) ± \(format(result.nllStandardError, 5)) nats/token")
            print("perplexity: \(format(result.perplexity, 4)) ± \(format(result.perplexity * result.nllStandardError, 4))")
            print("throughput: \(format(result.tokensPerSecond, 1)) tokens/s (\(result.processedTokens) tokens in \(format(result.seconds)) s)")
        }
    }
}

struct EvalReport: Codable {
    var model: String
    var text: String
    var result: PerplexityResult
    var perplexity: Double

    init(result: PerplexityResult, model: String, text: String) {
        self.model = model
        self.text = text
        self.result = result
        perplexity = result.perplexity
    }
}
