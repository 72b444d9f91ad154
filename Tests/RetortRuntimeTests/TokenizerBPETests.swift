import RetortRuntime
import XCTest

/// Merge-rank BPE on tiny synthetic vocabularies, checked against a plain reference.
final class TokenizerBPETests: XCTestCase {
    private typealias Vocab = TokenizerTestVocabulary

    private func texts(_ tokenizer: BPETokenizer, _ text: String) -> [String] {
        tokenizer.encode(text, addSpecial: false).map(tokenizer.tokenText)
    }

    func testMergeOrderFollowsRankNotPosition() throws {
        let rightFirst = try Vocab.make(words: ["bc", "cd"], merges: ["c d", "b c"])
        XCTAssertEqual(texts(rightFirst, "bcd"), ["b", "cd"])
        let leftFirst = try Vocab.make(words: ["bc", "cd"], merges: ["b c", "c d"])
        XCTAssertEqual(texts(leftFirst, "bcd"), ["bc", "d"])
    }

    func testEqualRanksMergeLeftmostFirst() throws {
        let tokenizer = try Vocab.make(words: ["aa", "aaaa"], merges: ["a a", "aa aa"])
        XCTAssertEqual(texts(tokenizer, "aaa"), ["aa", "a"])
        XCTAssertEqual(texts(tokenizer, "aaaa"), ["aaaa"])
        XCTAssertEqual(texts(tokenizer, "aaaaa"), ["aaaa", "a"])
        XCTAssertEqual(texts(tokenizer, "aaaaaa"), ["aaaa", "aa"])
    }

    func testMergedPiecesMergeFurther() throws {
        let tokenizer = try Vocab.make(words: ["Ġt", "Ġth", "Ġthe"], merges: ["Ġ t", "Ġt h", "Ġth e"])
        XCTAssertEqual(texts(tokenizer, "the the"), ["t", "h", "e", "Ġthe"])
        let id = try XCTUnwrap(tokenizer.id(of: "Ġthe"))
        XCTAssertEqual(tokenizer.pieceBytes(id), Array(" the".utf8))
        XCTAssertEqual(tokenizer.tokenText(id), "Ġthe")
        XCTAssertEqual(tokenizer.vocabularySize, 259)
    }

    /// llama3 (`ignore_merges`) emits a word that is itself a token without merging it.
    func testLlama3IgnoresMergesForWholeTokens() throws {
        let gpt2 = try Vocab.make(words: ["ab", "abc"], merges: ["a b"], pre: .gpt2)
        XCTAssertEqual(texts(gpt2, "abc"), ["ab", "c"])
        let llama3 = try Vocab.make(words: ["ab", "abc"], merges: ["a b"], pre: .llama3)
        XCTAssertEqual(texts(llama3, "abc"), ["abc"])
        XCTAssertEqual(texts(llama3, "abcab"), ["ab", "c", "ab"])
    }

    /// Random merge tables over a small alphabet: every word encodes as the plain reference does.
    func testMatchesReferenceBPE() throws {
        var rng = TokenizerTestRNG(seed: 7)
        for _ in 0..<20 {
            var pieces = ["a", "b", "c"]
            var words: [String] = []
            var merges: [String] = []
            for _ in 0..<40 {
                let left = pieces[Int(rng.next() % UInt64(pieces.count))]
                let right = pieces[Int(rng.next() % UInt64(pieces.count))]
                guard left.count + right.count <= 8, !merges.contains("\(left) \(right)") else { continue }
                merges.append("\(left) \(right)")
                if !pieces.contains(left + right) {
                    pieces.append(left + right)
                    words.append(left + right)
                }
            }
            let tokenizer = try Vocab.make(words: words, merges: merges)
            let ranks = Dictionary(uniqueKeysWithValues: merges.enumerated().map { ($1, $0) })
            for _ in 0..<50 {
                let length = 1 + Int(rng.next() % 40)
                let word = String((0..<length).map { _ in "abc".randomElement(using: &rng)! })
                XCTAssertEqual(texts(tokenizer, word), referenceBPE(word, ranks: ranks), word)
            }
            let long = String(repeating: "abcab", count: 60)
            XCTAssertEqual(texts(tokenizer, long), referenceBPE(long, ranks: ranks))
        }
    }

    /// Plain BPE: merge the adjacent pair of lowest rank, leftmost on ties, until none applies.
    private func referenceBPE(_ word: String, ranks: [String: Int]) -> [String] {
        var parts = word.map(String.init)
        while parts.count > 1 {
            var best: (rank: Int, index: Int)?
            for i in 0..<parts.count - 1 {
                if let rank = ranks["\(parts[i]) \(parts[i + 1])"], rank < best?.rank ?? .max { best = (rank, i) }
            }
            guard let best else { break }
            parts[best.index] += parts[best.index + 1]
            parts.remove(at: best.index + 1)
        }
        return parts
    }

    /// Every byte string round-trips, whatever the pre-tokenizer, including invalid UTF-8.
    func testDecodeIsLossless() throws {
        var rng = TokenizerTestRNG(seed: 11)
        for pre in [PreTokenizer.gpt2, .smollm, .llama3, .qwen2, .default] {
            let tokenizer = try Vocab.make(words: ["Ġt", "he"], merges: ["Ġ t", "h e"], pre: pre)
            for _ in 0..<200 {
                let bytes = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                XCTAssertEqual(tokenizer.decode(tokenizer.encode(bytes, addSpecial: false)), bytes, "\(pre) \(bytes)")
            }
            let text = "Hello, wörld! 12345  \t\n\n  ÿ 日本 🤖 I'LL"
            XCTAssertEqual(tokenizer.decode(tokenizer.encode(text)), Array(text.utf8))
            let invalid: [UInt8] = [0x61, 0xFF, 0xC3, 0x28, 0x62, 0x20, 0xE2, 0x82]
            XCTAssertEqual(tokenizer.decode(tokenizer.encode(invalid)), invalid)
        }
    }

    func testEmptyInput() throws {
        let tokenizer = try Vocab.make()
        XCTAssertEqual(tokenizer.encode(""), [])
        XCTAssertEqual(tokenizer.decode([]), [])
    }

    func testOutOfRangeIDsDecodeToNothing() throws {
        let tokenizer = try Vocab.make()
        XCTAssertEqual(tokenizer.decode([-1, 99_999, Vocab.byte("a")]), Array("a".utf8))
        XCTAssertEqual(tokenizer.pieceBytes(-1), [])
        XCTAssertEqual(tokenizer.tokenText(99_999), "")
        XCTAssertNil(tokenizer.id(of: "not a token"))
    }

    // MARK: Rejected vocabularies

    func testMergeMustNameVocabularyTokens() {
        XCTAssertThrowsError(try Vocab.make(merges: ["a b"])) { error in
            XCTAssertEqual((error as? TokenizerError)?.field, "tokenizer.ggml.merges[0]")
            XCTAssertEqual((error as? TokenizerError)?.message, "\"ab\" is not in the vocabulary")
        }
        XCTAssertThrowsError(try Vocab.make(words: ["ab"], merges: ["a b", "ab"])) { error in
            XCTAssertEqual((error as? TokenizerError)?.field, "tokenizer.ggml.merges[1]")
        }
    }

    func testDuplicateTokenIsRejected() {
        XCTAssertThrowsError(try Vocab.make(words: ["ab", "ab"])) { error in
            XCTAssertEqual((error as? TokenizerError)?.field, "tokenizer.ggml.tokens[257]")
        }
    }

    func testSpecialIDsMustBeInVocabulary() {
        XCTAssertThrowsError(try Vocab.make(bos: 256)) { error in
            XCTAssertEqual((error as? TokenizerError)?.field, "tokenizer.ggml.bos_token_id")
        }
        XCTAssertThrowsError(try BPETokenizer(tokens: [Array("a".utf8)], tokenTypes: [],
                                              merges: [[UInt8]](), preTokenizer: .gpt2, bosID: nil, eosID: -1,
                                              unknownID: nil, paddingID: nil, addBOS: false)) { error in
            XCTAssertEqual((error as? TokenizerError)?.field, "tokenizer.ggml.eos_token_id")
        }
    }
}

/// Deterministic generator for reproducible random tests.
typealias TokenizerTestRNG = SeededGenerator
