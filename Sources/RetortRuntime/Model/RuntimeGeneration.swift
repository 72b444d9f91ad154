import CRetortShim

/// Timings of one generation, from the runtime's monotonic clock.
public struct RuntimeGenerationStats: Sendable {
    public var promptTokens = 0
    public var generatedTokens = 0
    public var prefillNanoseconds: UInt64 = 0
    public var decodeNanoseconds: UInt64 = 0
    /// Decode steps timed individually (ns), for latency percentiles.
    public var stepNanoseconds: [UInt64] = []

    public var prefillTokensPerSecond: Double {
        prefillNanoseconds > 0 ? Double(promptTokens) * 1e9 / Double(prefillNanoseconds) : 0
    }
    /// Decode throughput over the tokens that needed a forward pass (all but the first sampled one).
    public var decodeTokensPerSecond: Double {
        decodeNanoseconds > 0 ? Double(stepNanoseconds.count) * 1e9 / Double(decodeNanoseconds) : 0
    }
}

extension RuntimeSession {
    /// Prefills `prompt` in one batch (split into `maxBatch` pieces if longer), then samples and
    /// decodes up to `maxTokens` tokens. `onToken(id)` streams each one; return false to stop.
    /// Stops at an end-of-generation token (not emitted) when `stopAtEndOfGeneration`.
    public func generate(prompt: [Int32], maxTokens: Int, sampler settings: SamplerSettings,
                         stopAtEndOfGeneration: Bool = true,
                         onToken: (Int32) -> Bool) throws(RuntimeError) -> RuntimeGenerationStats {
        var stats = RuntimeGenerationStats()
        stats.promptTokens = prompt.count
        guard !prompt.isEmpty else {
            throw RuntimeError(file: model.file.path, field: "prompt", message: "empty prompt")
        }
        guard position + prompt.count + maxTokens <= capacity + 1 else {
            throw RuntimeError(file: model.file.path, field: "prompt",
                               message: String(prompt.count) + " prompt tokens + " + String(maxTokens) + " new tokens exceed the session's capacity of " + String(capacity)
                                   + " positions (the model's context is " + String(model.config.contextLength) + ")")
        }
        stats.stepNanoseconds.reserveCapacity(maxTokens)
        var sampler = Sampler(settings: settings, vocabularySize: model.config.vocabSize)
        let t0 = retort_now_ns()
        var start = 0
        var logits = UnsafeBufferPointer<Float>(start: nil, count: 0)
        while start < prompt.count {
            let end = min(start + maxBatch, prompt.count)
            logits = try forward(Array(prompt[start..<end]), logits: end == prompt.count ? .last : .none)
            start = end
        }
        let t1 = retort_now_ns()
        stats.prefillNanoseconds = t1 - t0
        var produced = 0
        while produced < maxTokens {
            let next = sampler.sample(logits)
            if stopAtEndOfGeneration && model.tokenizer.isEndOfGeneration(next) { break }
            produced += 1
            if !onToken(next) || produced == maxTokens { break }
            let s0 = retort_now_ns()
            logits = try forward([next], logits: .last)
            stats.stepNanoseconds.append(retort_now_ns() - s0)
        }
        stats.generatedTokens = produced
        stats.decodeNanoseconds = retort_now_ns() - t1
        return stats
    }
}
