import Foundation

/// How closely a candidate model (a student, an INT8 variant) follows a reference model (the
/// teacher, the FP32 original) on the same text, scored over the same windows as perplexity.
public struct ComparisonResult: Sendable, Codable {
    /// Perplexity of each model over the scored rows (same windows, same rows).
    public var reference: PerplexityResult
    public var candidate: PerplexityResult
    /// Mean over scored rows of KL(p_reference ‖ p_candidate), in nats.
    public var meanKL: Double
    /// Fraction of scored rows where both models' most likely next token is the same.
    public var top1Agreement: Double
    public var scoredTokens: Int
}

/// Per-row statistics of one scored row: NLL of both models on the target, KL(p_r ‖ p_c), and
/// whether their arg-max tokens agree.
struct ComparisonRow {
    var referenceNLL = 0.0, candidateNLL = 0.0, kl = 0.0
    var agree = false
}

/// KL(p_r ‖ p_c) for one row of logits, both softmaxed in Double.
func comparisonRow(reference r: UnsafePointer<Float>, candidate c: UnsafePointer<Float>,
                   count v: Int, target: Int) -> ComparisonRow {
    var maxR = -Float.infinity, maxC = -Float.infinity
    var argR = 0, argC = 0
    for j in 0..<v {
        if r[j] > maxR { maxR = r[j]; argR = j }
        if c[j] > maxC { maxC = c[j]; argC = j }
    }
    var sumR = 0.0, sumC = 0.0
    for j in 0..<v {
        sumR += Double(expf(r[j] - maxR))
        sumC += Double(expf(c[j] - maxC))
    }
    let logZR = Double(maxR) + log(sumR), logZC = Double(maxC) + log(sumC)
    var kl = 0.0
    for j in 0..<v {
        let lr = Double(r[j]) - logZR
        kl += exp(lr) * (lr - (Double(c[j]) - logZC))
    }
    return ComparisonRow(referenceNLL: logZR - Double(r[target]), candidateNLL: logZC - Double(c[target]),
                         kl: max(0, kl), agree: argR == argC)
}

/// Runs both models over the windows of `options` and compares their next-token distributions.
/// `reference(window)` and `candidate(window)` each run one window from an empty cache and return
/// (T, V) logits valid until that closure's next call. `progress(windowsDone, windows)`.
public func evaluateComparison(vocabularySize v: Int, tokens allTokens: [Int32], bos: Int32?,
                               options: PerplexityOptions, source: String = "eval",
                               progress: ((Int, Int) -> Void)? = nil,
                               reference: ([Int32]) throws -> UnsafeBufferPointer<Float>,
                               candidate: ([Int32]) throws -> UnsafeBufferPointer<Float>) throws -> ComparisonResult {
    let tokens = options.maxTokens.map { Array(allTokens.prefix($0)) } ?? allTokens
    let windows = try perplexityWindows(tokens: tokens, bos: bos, options: options, source: source)
    var sums = (r: 0.0, r2: 0.0, c: 0.0, c2: 0.0, kl: 0.0), agree = 0, scored = 0, processed = 0
    var seconds = (r: 0.0, c: 0.0)
    let clock = ContinuousClock()
    var rows = [ComparisonRow](repeating: ComparisonRow(), count: options.context)
    for (w, window) in windows.enumerated() {
        let t0 = clock.now
        let r = try forwardChecked(reference, window.input, vocab: v, source: source, model: "reference")
        // The reference's buffer must survive the candidate's run: copy it.
        let refCopy = Array(r)
        let t1 = clock.now
        let c = try forwardChecked(candidate, window.input, vocab: v, source: source, model: "candidate")
        let t2 = clock.now
        seconds.r += t0.duration(to: t1).seconds
        seconds.c += t1.duration(to: t2).seconds
        let scoredRows = window.firstScoredRow ..< window.input.count - 1
        let input = window.input
        refCopy.withUnsafeBufferPointer { rb in
            rows.withUnsafeMutableBufferPointer { out in
                let out = out.baseAddress!, rBase = rb.baseAddress!, cBase = c.baseAddress!
                parallelChunks(scoredRows.count, minChunk: 4) { part in
                    for i in part {
                        let row = scoredRows.lowerBound + i
                        out[i] = comparisonRow(reference: rBase + row * v, candidate: cBase + row * v,
                                               count: v, target: Int(input[row + 1]))
                    }
                }
            }
        }
        for i in 0..<scoredRows.count {
            let s = rows[i]
            sums.r += s.referenceNLL; sums.r2 += s.referenceNLL * s.referenceNLL
            sums.c += s.candidateNLL; sums.c2 += s.candidateNLL * s.candidateNLL
            sums.kl += s.kl
            if s.agree { agree += 1 }
        }
        scored += scoredRows.count
        processed += window.input.count
        progress?(w + 1, windows.count)
    }
    let n = Double(max(scored, 1))
    func result(_ sum: Double, _ sum2: Double, _ secs: Double) -> PerplexityResult {
        let mean = sum / n
        let variance = max(0, sum2 / n - mean * mean)
        return PerplexityResult(method: options.method.rawValue, context: options.context,
                                stride: options.method == .sliding ? (options.stride ?? options.context / 2) : options.context,
                                textTokens: tokens.count, scoredTokens: scored, processedTokens: processed,
                                windows: windows.count, meanNLL: mean,
                                nllStandardError: scored > 1 ? (variance / Double(scored - 1)).squareRoot() : 0,
                                seconds: secs)
    }
    return ComparisonResult(reference: result(sums.r, sums.r2, seconds.r), candidate: result(sums.c, sums.c2, seconds.c),
                            meanKL: sums.kl / n, top1Agreement: Double(agree) / n, scoredTokens: scored)
}

private func forwardChecked(_ forward: ([Int32]) throws -> UnsafeBufferPointer<Float>, _ input: [Int32],
                            vocab v: Int, source: String, model: String) throws -> UnsafeBufferPointer<Float> {
    let logits = try forward(input)
    guard logits.count >= input.count * v else {
        throw ModelError(file: source, field: "\(model).logits",
                         message: "\(logits.count) values for \(input.count) tokens × \(v) vocabulary")
    }
    return logits
}
