import Foundation

/// How windows are laid over the token stream when measuring perplexity.
public enum PerplexityProtocol: String, Sendable, CaseIterable {
    /// Retort's protocol: windows of `context` tokens advancing by `stride`; every token after the
    /// first is scored exactly once, in the window where it has the most left context. When the
    /// model adds BOS, each window is BOS + (context − 1) text tokens and the first text token is
    /// scored too.
    case sliding
    /// `llama-perplexity`'s protocol: disjoint chunks of `context` tokens (⌊n / context⌋ of them);
    /// in each chunk only the logits of positions context/2 … context−2 are scored (predicting the
    /// second half of the chunk). With BOS, the chunk's first token is replaced by BOS.
    case llamaCpp = "llama.cpp"
}

public struct PerplexityOptions: Sendable {
    public var context: Int
    public var stride: Int?            // sliding only; default context / 2
    public var maxTokens: Int?         // evaluate only the first N tokens of the text
    public var method: PerplexityProtocol

    public init(context: Int = 512, stride: Int? = nil, maxTokens: Int? = nil, method: PerplexityProtocol = .sliding) {
        self.context = context
        self.stride = stride
        self.maxTokens = maxTokens
        self.method = method
    }
}

public struct PerplexityResult: Sendable, Codable {
    public var method: String
    public var context: Int
    public var stride: Int
    public var textTokens: Int          // tokens of the (possibly truncated) text
    public var scoredTokens: Int
    public var processedTokens: Int     // tokens run through the model
    public var windows: Int
    public var meanNLL: Double          // nats per scored token
    public var nllStandardError: Double
    public var seconds: Double
    public var perplexity: Double { exp(meanNLL) }
    /// Model throughput: tokens run through the model per second.
    public var tokensPerSecond: Double { seconds > 0 ? Double(processedTokens) / seconds : 0 }
}

/// One scored window: the tokens fed to the model and which output rows score which next token.
struct PerplexityWindow {
    var input: [Int32]
    var firstScoredRow: Int   // rows firstScoredRow ..< input.count - 1 predict input[row + 1]
}

/// Lays the windows of `method` over `tokens`. Pure, so tests can check the protocol itself.
func perplexityWindows(tokens: [Int32], bos: Int32?, options: PerplexityOptions,
                        source: String = "eval") throws(ModelError) -> [PerplexityWindow] {
    let n = tokens.count, ctx = options.context
    guard ctx >= 4 else { throw ModelError(file: source, field: "context", message: "\(ctx) must be at least 4") }
    var windows: [PerplexityWindow] = []
    switch options.method {
    case .llamaCpp:
        guard n >= 2 * ctx else {
            throw ModelError(file: source, field: "tokens", message: "\(n) tokens; the llama.cpp protocol needs at least 2 × context = \(2 * ctx)")
        }
        for chunk in 0..<(n / ctx) {
            var input = Array(tokens[chunk * ctx ..< (chunk + 1) * ctx])
            if let bos { input[0] = bos }
            windows.append(PerplexityWindow(input: input, firstScoredRow: ctx / 2))
        }
    case .sliding:
        let stride = options.stride ?? ctx / 2
        guard stride >= 1 && stride <= ctx else {
            throw ModelError(file: source, field: "stride", message: "\(stride) must be in 1...context (\(ctx))")
        }
        let prefix = bos == nil ? 0 : 1
        let span = ctx - prefix                   // text tokens per window
        guard n >= 2 - prefix else {
            throw ModelError(file: source, field: "tokens", message: "\(n) tokens is too short to score")
        }
        var scoredUpTo = prefix == 1 ? 0 : 1      // next text position still to be scored
        var start = 0
        while scoredUpTo < n {
            let end = min(start + span, n)
            var input: [Int32] = []
            input.reserveCapacity(end - start + prefix)
            if let bos { input.append(bos) }
            input += tokens[start..<end]
            // Text position j sits at row j − start + prefix; it is predicted by the row before it.
            // With stride = context (disjoint windows) and no BOS, a window's first token has no
            // row before it inside the window and is not scored.
            let firstRow = max(0, scoredUpTo - start + prefix - 1)
            windows.append(PerplexityWindow(input: input, firstScoredRow: firstRow))
            scoredUpTo = end
            if end == n { break }
            start += stride
        }
    }
    return windows
}

/// Measures perplexity of the host FP32 `model` on `tokens` under `options`; `source` names the
/// text in errors. `progress(windowsDone, windows, perplexitySoFar)`.
public func evaluatePerplexity(model: LlamaModel, tokens: [Int32], bos: Int32?,
                               options: PerplexityOptions, source: String = "eval",
                               progress: ((Int, Int, Double) -> Void)? = nil) throws -> PerplexityResult {
    let session = LlamaSession(model: model, capacity: options.context)
    return try evaluatePerplexity(vocabularySize: model.config.vocabSize, tokens: tokens, bos: bos, options: options,
                                  source: source, progress: progress) { window in
        session.reset()
        return try session.forward(window, logits: .all)
    }
}

/// Measures perplexity with any model: `forward(window)` runs one window from an empty cache and
/// returns its (T, V) logits (valid until the next call).
public func evaluatePerplexity(vocabularySize v: Int, tokens allTokens: [Int32], bos: Int32?,
                               options: PerplexityOptions, source: String = "eval",
                               progress: ((Int, Int, Double) -> Void)? = nil,
                               forward: ([Int32]) throws -> UnsafeBufferPointer<Float>) throws -> PerplexityResult {
    let tokens = options.maxTokens.map { Array(allTokens.prefix($0)) } ?? allTokens
    let windows = try perplexityWindows(tokens: tokens, bos: bos, options: options, source: source)
    var nll = 0.0, nll2 = 0.0, scored = 0, processed = 0
    let clock = ContinuousClock()
    let start = clock.now
    var rowNLL = [Double](repeating: 0, count: options.context)
    for (w, window) in windows.enumerated() {
        let logits = try forward(window.input)
        let rows = window.firstScoredRow ..< window.input.count - 1
        let input = window.input
        rowNLL.withUnsafeMutableBufferPointer { out in
            let out = out.baseAddress!
            let base = logits.baseAddress!
            parallelChunks(rows.count, minChunk: 4) { part in
                for i in part {
                    let r = rows.lowerBound + i
                    out[i] = -logProbability(base + r * v, count: v, target: Int(input[r + 1]))
                }
            }
        }
        for i in 0..<rows.count {
            nll += rowNLL[i]
            nll2 += rowNLL[i] * rowNLL[i]
        }
        scored += rows.count
        processed += window.input.count
        progress?(w + 1, windows.count, exp(nll / Double(max(scored, 1))))
    }
    let seconds = start.duration(to: clock.now).seconds
    let mean = nll / Double(max(scored, 1))
    let variance = max(0, nll2 / Double(max(scored, 1)) - mean * mean)
    let stderr = scored > 1 ? (variance / Double(scored - 1)).squareRoot() : 0
    return PerplexityResult(method: options.method.rawValue, context: options.context,
                            stride: options.method == .sliding ? (options.stride ?? options.context / 2) : options.context,
                            textTokens: tokens.count, scoredTokens: scored, processedTokens: processed,
                            windows: windows.count, meanNLL: mean, nllStandardError: stderr, seconds: seconds)
}
