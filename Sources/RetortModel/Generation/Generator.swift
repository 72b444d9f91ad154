import Foundation
import RetortRuntime

public struct GenerationOptions: Sendable {
    public var maxTokens: Int
    public var sampler: SamplerSettings
    public var stopAtEndOfGeneration: Bool

    public init(maxTokens: Int = 128, sampler: SamplerSettings = SamplerSettings(), stopAtEndOfGeneration: Bool = true) {
        self.maxTokens = maxTokens
        self.sampler = sampler
        self.stopAtEndOfGeneration = stopAtEndOfGeneration
    }
}

public struct GenerationStats: Sendable, Codable {
    public var promptTokens: Int
    public var generatedTokens: Int
    public var promptSeconds: Double
    public var generationSeconds: Double
    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
    public var generationTokensPerSecond: Double { generationSeconds > 0 ? Double(generatedTokens) / generationSeconds : 0 }
}

/// Prefills `prompt` in one batch, then decodes one token at a time through the KV cache.
/// `onToken(id)` streams each generated token; return false to stop early.
public func generate(model: LlamaModel, prompt: [Int32], options: GenerationOptions,
                     isEndOfGeneration: (Int32) -> Bool,
                     onToken: (Int32) -> Bool) throws -> (tokens: [Int32], stats: GenerationStats) {
    guard !prompt.isEmpty else { throw ModelError(file: "generate", field: "prompt", message: "empty prompt") }
    let capacity = min(model.config.contextLength, prompt.count + options.maxTokens)
    guard prompt.count < capacity || options.maxTokens == 0 else {
        throw ModelError(file: "generate", field: "prompt",
                         message: "\(prompt.count) tokens leave no room in the context of \(model.config.contextLength)")
    }
    let session = LlamaSession(model: model, capacity: max(capacity, prompt.count), maxBatch: prompt.count)
    var sampler = Sampler(settings: options.sampler, vocabularySize: model.config.vocabSize)
    let clock = ContinuousClock()
    let t0 = clock.now
    var logits = try session.forward(prompt, logits: options.maxTokens > 0 ? .last : .none)
    let t1 = clock.now
    var out: [Int32] = []
    while out.count < options.maxTokens {
        let next = sampler.sample(logits)
        if options.stopAtEndOfGeneration && isEndOfGeneration(next) { break }
        out.append(next)
        if !onToken(next) { break }
        if out.count == options.maxTokens || session.position >= session.capacity { break }
        logits = try session.forward([next], logits: .last)
    }
    let t2 = clock.now
    return (out, GenerationStats(promptTokens: prompt.count, generatedTokens: out.count,
                                 promptSeconds: (t1 - t0).seconds, generationSeconds: (t2 - t1).seconds))
}
