import RetortRuntime
import XCTest

/// Special tokens: partition before pre-tokenizing (llama.cpp `tokenizer_st_partition`), BOS/EOS,
/// end-of-generation recognition, rendering.
final class TokenizerSpecialTokenTests: XCTestCase {
    private typealias Vocab = TokenizerTestVocabulary
    // Ids after the 256 byte tokens (no words).
    private let imStart: Int32 = 256, imEnd: Int32 = 257, endOfText: Int32 = 258, tool: Int32 = 259, unused: Int32 = 260

    private func chatVocabulary(addBOS: Bool = false, addEOS: Bool = false) throws -> BPETokenizer {
        try Vocab.make(specials: [("<|im_start|>", 3), ("<|im_end|>", 3), ("<|endoftext|>", 3), ("<tool>", 4), ("<unused>", 5)],
                       bos: imStart, eos: endOfText, addBOS: addBOS, addEOS: addEOS)
    }

    private func bytes(_ text: String) -> [Int32] { text.utf8.map { Int32($0) } }

    func testControlTokensParsedOnlyWhenAsked() throws {
        let tokenizer = try chatVocabulary()
        XCTAssertEqual(tokenizer.encode("a<|im_end|>b", addSpecial: false, parseSpecial: true), [Vocab.byte("a"), imEnd, Vocab.byte("b")])
        XCTAssertEqual(tokenizer.encode("a<|im_end|>b", addSpecial: false, parseSpecial: false), bytes("a<|im_end|>b"))
        XCTAssertEqual(tokenizer.encode("<|im_end|><|im_end|>", addSpecial: false, parseSpecial: true), [imEnd, imEnd])
        XCTAssertEqual(tokenizer.encode("<<|im_end|>>", addSpecial: false, parseSpecial: true), [Vocab.byte("<"), imEnd, Vocab.byte(">")])
        XCTAssertEqual(tokenizer.encode("<|im_end", addSpecial: false, parseSpecial: true), bytes("<|im_end"))
    }

    /// User-defined tokens are split out even without `parseSpecial` (as llama.cpp and HF do).
    func testUserDefinedTokensAlwaysParsed() throws {
        let tokenizer = try chatVocabulary()
        XCTAssertEqual(tokenizer.encode("x<tool>y", addSpecial: false), [Vocab.byte("x"), tool, Vocab.byte("y")])
        XCTAssertEqual(tokenizer.encode("<unused>", addSpecial: false, parseSpecial: true), bytes("<unused>"))
    }

    /// Longer special tokens claim the text first, wherever they are (llama.cpp's order), so an
    /// earlier, shorter match that overlaps them loses.
    func testLongestSpecialTokenWins() throws {
        let tokenizer = try Vocab.make(specials: [("xy", 3), ("yzw", 3)])
        XCTAssertEqual(tokenizer.encode("xyzw", addSpecial: false, parseSpecial: true), [Vocab.byte("x"), 257])
        XCTAssertEqual(tokenizer.encode("xyxyzw", addSpecial: false, parseSpecial: true), [256, Vocab.byte("x"), 257])
    }

    func testChatTemplate() throws {
        let tokenizer = try chatVocabulary()
        let ids = tokenizer.encode("<|im_start|>user\nHi<|im_end|>\n", addSpecial: false, parseSpecial: true)
        XCTAssertEqual(ids, [imStart] + bytes("user\nHi") + [imEnd] + bytes("\n"))
        XCTAssertEqual(tokenizer.decode(ids), Array("<|im_start|>user\nHi<|im_end|>\n".utf8))
    }

    func testBOSAndEOS() throws {
        let plain = try chatVocabulary()
        XCTAssertEqual(plain.encode("a"), [Vocab.byte("a")])
        let both = try chatVocabulary(addBOS: true, addEOS: true)
        XCTAssertEqual(both.encode("a"), [imStart, Vocab.byte("a"), endOfText])
        XCTAssertEqual(both.encode(""), [imStart, endOfText])
        XCTAssertEqual(both.encode("a", addSpecial: false), [Vocab.byte("a")])
        XCTAssertEqual(both.bosID, imStart)
        XCTAssertEqual(both.eosID, endOfText)
    }

    func testEndOfGeneration() throws {
        let tokenizer = try chatVocabulary()
        XCTAssertTrue(tokenizer.isEndOfGeneration(endOfText))  // EOS, and "<|endoftext|>" by text
        XCTAssertTrue(tokenizer.isEndOfGeneration(imEnd))      // "<|im_end|>" by text
        XCTAssertFalse(tokenizer.isEndOfGeneration(imStart))
        XCTAssertFalse(tokenizer.isEndOfGeneration(tool))
        XCTAssertFalse(tokenizer.isEndOfGeneration(Vocab.byte("a")))
        XCTAssertFalse(tokenizer.isEndOfGeneration(-1))
        XCTAssertFalse(tokenizer.isEndOfGeneration(10_000))
    }

    /// A control-looking token stored as a normal token is treated as control (llama.cpp overrides
    /// its type): parsed as special and ending generation.
    func testControlLookingNormalTokenBecomesControl() throws {
        let tokenizer = try Vocab.make(specials: [("<|im_end|>", 1), ("<|fim_pad|>", 1)])
        XCTAssertEqual(tokenizer.encode("a<|im_end|>", addSpecial: false, parseSpecial: true), [Vocab.byte("a"), 256])
        XCTAssertTrue(tokenizer.isEndOfGeneration(256))
        XCTAssertTrue(tokenizer.isEndOfGeneration(257))
    }

    func testPieces() throws {
        let tokenizer = try chatVocabulary()
        XCTAssertEqual(tokenizer.pieceBytes(imEnd), Array("<|im_end|>".utf8))
        XCTAssertEqual(tokenizer.pieceBytes(tool), Array("<tool>".utf8))
        XCTAssertEqual(tokenizer.pieceBytes(unused), [])
        XCTAssertEqual(tokenizer.pieceBytes(0x20), [0x20])
        XCTAssertEqual(tokenizer.tokenText(0x20), "Ġ")
        XCTAssertEqual(tokenizer.id(of: "<|im_end|>"), imEnd)
        XCTAssertEqual(tokenizer.id(of: "Ġ"), 0x20)
    }
}
