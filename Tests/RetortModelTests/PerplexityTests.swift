import Foundation
@testable import RetortModel
import RetortTestSupport
import XCTest

final class PerplexityTests: XCTestCase {
    /// Text positions each window scores (target token positions in the original stream).
    private func scoredPositions(_ windows: [PerplexityWindow], stride: Int, bos: Bool) -> [Int] {
        var out: [Int] = []
        for (w, window) in windows.enumerated() {
            let start = w * stride
            for row in window.firstScoredRow ..< window.input.count - 1 {
                out.append(start + row + 1 - (bos ? 1 : 0))
            }
        }
        return out
    }

    func testSlidingScoresEveryTokenOnceWithoutBOS() throws {
        let tokens = (0..<1000).map { Int32($0 % 40) }
        for (ctx, stride) in [(64, 32), (64, 63), (64, 1 + 63 / 2), (100, 7)] {
            let windows = try perplexityWindows(tokens: tokens, bos: nil,
                                                options: PerplexityOptions(context: ctx, stride: stride))
            XCTAssertEqual(scoredPositions(windows, stride: stride, bos: false), Array(1..<1000), "ctx \(ctx) stride \(stride)")
            XCTAssert(windows.allSatisfy { $0.firstScoredRow >= 0 }, "every scored row is inside its window")
            XCTAssert(windows.allSatisfy { $0.input.count <= ctx })
            // Every token but those of the first window sees at least ctx − stride tokens of context.
            for window in windows.dropFirst() { XCTAssertGreaterThanOrEqual(window.firstScoredRow + 1, ctx - stride) }
        }
    }

    /// Disjoint windows without BOS: a window's first token has no row before it and is skipped.
    func testDisjointWindowsSkipEachWindowsFirstToken() throws {
        let tokens = (0..<200).map { Int32($0 % 40) }
        let windows = try perplexityWindows(tokens: tokens, bos: nil, options: PerplexityOptions(context: 64, stride: 64))
        XCTAssert(windows.allSatisfy { $0.firstScoredRow >= 0 })
        XCTAssertEqual(scoredPositions(windows, stride: 64, bos: false), Array(1..<200).filter { $0 % 64 != 0 })
    }

    func testSlidingWithBOSScoresFirstToken() throws {
        let tokens = (0..<300).map { Int32($0 % 40) + 2 }
        let windows = try perplexityWindows(tokens: tokens, bos: 1, options: PerplexityOptions(context: 64, stride: 32))
        XCTAssert(windows.allSatisfy { $0.input.first == 1 && $0.input.count <= 64 })
        // BOS windows hold 63 text tokens; window w starts at text position 32·w.
        XCTAssertEqual(scoredPositions(windows, stride: 32, bos: true), Array(0..<300))
    }

    func testLlamaCppChunksScoreSecondHalf() throws {
        let tokens = (0..<1100).map { Int32($0 % 40) }
        let windows = try perplexityWindows(tokens: tokens, bos: nil,
                                            options: PerplexityOptions(context: 256, method: .llamaCpp))
        XCTAssertEqual(windows.count, 4)                        // ⌊1100 / 256⌋
        for (i, w) in windows.enumerated() {
            XCTAssertEqual(w.input, Array(tokens[i * 256 ..< (i + 1) * 256]))
            XCTAssertEqual(w.firstScoredRow, 128)
            XCTAssertEqual(w.input.count - 1 - w.firstScoredRow, 127)   // n_ctx − 1 − n_ctx/2
        }
        let withBOS = try perplexityWindows(tokens: tokens, bos: 1, options: PerplexityOptions(context: 256, method: .llamaCpp))
        XCTAssert(withBOS.allSatisfy { $0.input[0] == 1 })
        XCTAssertThrowsError(try perplexityWindows(tokens: Array(tokens[0..<500]), bos: nil,
                                                   options: PerplexityOptions(context: 256, method: .llamaCpp)))
    }

    /// A model compared with itself: KL 0, full agreement, both perplexities the plain one's.
    func testComparisonOfAModelWithItself() throws {
        let model = TinyModels.random(seed: 6)
        let tokens: [Int32] = (0..<150).map { Int32(($0 * 5 + 1) % 48) }
        let options = PerplexityOptions(context: 32, stride: 32)
        let a = LlamaSession(model: model, capacity: 32), b = LlamaSession(model: model, capacity: 32)
        let r = try evaluateComparison(vocabularySize: 48, tokens: tokens, bos: nil, options: options,
                                       reference: { a.reset(); return try a.forward($0) },
                                       candidate: { b.reset(); return try b.forward($0) })
        let plain = try evaluatePerplexity(model: model, tokens: tokens, bos: nil, options: options)
        XCTAssertEqual(r.meanKL, 0, accuracy: 1e-6)
        XCTAssertEqual(r.top1Agreement, 1)
        XCTAssertEqual(r.scoredTokens, plain.scoredTokens)
        XCTAssertEqual(r.reference.meanNLL, plain.meanNLL, accuracy: 1e-6)
        XCTAssertEqual(r.candidate.meanNLL, plain.meanNLL, accuracy: 1e-6)
        // A different candidate: KL > 0 and perplexities differ.
        let other = LlamaSession(model: TinyModels.random(seed: 7), capacity: 32)
        let d = try evaluateComparison(vocabularySize: 48, tokens: tokens, bos: nil, options: options,
                                       reference: { a.reset(); return try a.forward($0) },
                                       candidate: { other.reset(); return try other.forward($0) })
        XCTAssertGreaterThan(d.meanKL, 0.01)
        XCTAssertLessThan(d.top1Agreement, 1)
    }

    func testPerplexityMatchesReferenceNLL() throws {
        let model = TinyModels.random(seed: 5)
        let tokens: [Int32] = (0..<40).map { Int32(($0 * 7 + 3) % 48) }
        let logits = referenceLlamaLogits(model, tokens: tokens)
        var nll = 0.0
        for t in 0..<tokens.count - 1 {
            let row = logits[t].map(Double.init)
            let m = row.max()!
            let lse = m + log(row.reduce(0) { $0 + exp($1 - m) })
            nll += lse - row[Int(tokens[t + 1])]
        }
        let expected = nll / Double(tokens.count - 1)
        // One window covering everything, and overlapping windows, both score each token once;
        // with a single window the NLL must match the reference.
        let single = try evaluatePerplexity(model: model, tokens: tokens, bos: nil, options: PerplexityOptions(context: 64))
        XCTAssertEqual(single.scoredTokens, 39)
        XCTAssertEqual(single.meanNLL, expected, accuracy: 1e-4)
        let sliding = try evaluatePerplexity(model: model, tokens: tokens, bos: nil, options: PerplexityOptions(context: 16, stride: 8))
        XCTAssertEqual(sliding.scoredTokens, 39)
        XCTAssert(sliding.meanNLL.isFinite && sliding.meanNLL > 0)
    }
}
