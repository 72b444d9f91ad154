import RetortRuntime
import XCTest

/// Pre-tokenizer splits on crafted strings. The expected pieces were produced by llama.cpp's
/// `unicode_regex_split` (src/unicode.cpp) with the same regex lists, and agree piece for piece.
final class TokenizerPreTokenizerTests: XCTestCase {
    private func check(_ pre: PreTokenizer, _ cases: [(String, [String])],
                       file: StaticString = #filePath, line: UInt = #line) {
        for (text, expected) in cases {
            let pieces = pre.split(Array(text.utf8)).map { String(decoding: $0, as: UTF8.self) }
            XCTAssertEqual(pieces, expected, "\(pre) split of \(text.debugDescription)", file: file, line: line)
        }
    }

    func testGPT2Pattern() {
        check(.gpt2, [
            ("Hello world", ["Hello", " world"]),
            ("I'm can't we'll they've he'd she's you're", ["I", "'m", " can", "'t", " we", "'ll", " they", "'ve", " he", "'d", " she", "'s", " you", "'re"]),
            ("I'LL DON'T", ["I", "'", "LL", " DON", "'", "T"]),  // contractions are lower-case only
            ("don't stop 'til 1999's end", ["don", "'t", " stop", " '", "til", " 1999", "'s", " end"]),
            ("'s's", ["'s", "'s"]),
            (" 'sup", [" '", "sup"]),
            ("Hello!!! ...?", ["Hello", "!!!", " ...?"]),
        ])
    }

    /// `\s+(?!\S)`: a whitespace run gives its last character to the word after it, unless the
    /// run ends the text.
    func testGPT2Whitespace() {
        check(.gpt2, [
            ("a   b", ["a", "  ", " b"]),
            ("a \t b", ["a", " \t", " b"]),
            ("a   ", ["a", "   "]),
            ("   a", ["  ", " a"]),
            ("a\n\nb", ["a", "\n", "\n", "b"]),
            ("a\n\n b", ["a", "\n\n", " b"]),
            ("\tx", ["\t", "x"]),
            ("x  \n", ["x", "  \n"]),
            ("a\u{A0}b", ["a", "\u{A0}", "b"]),        // NBSP is \s
            ("a\u{3000} b", ["a", "\u{3000}", " b"]),  // so is the ideographic space
        ])
    }

    func testGPT2Unicode() {
        check(.gpt2, [
            ("café naïve", ["café", " naïve"]),
            ("Привет, мир!", ["Привет", ",", " мир", "!"]),
            ("日本語のテキスト", ["日本語のテキスト"]),
            ("I ❤️ 🤖!", ["I", " ❤️", " 🤖!"]),
            ("e\u{301}", ["e", "\u{301}"]),  // a combining mark is not \p{L}
            ("x²½Ⅻ", ["x", "²½Ⅻ"]),          // \p{N} includes No and Nl
            // U+1C89 is assigned in Unicode 16; llama.cpp's tables (15.1) have it unassigned.
            ("a\u{1C89}b", ["a", "\u{1C89}", "b"]),
        ])
    }

    func testSmolLMIsolatesEachDigit() {
        check(.smollm, [
            ("abc 12345 x", ["abc", " ", "1", "2", "3", "4", "5", " x"]),
            ("v2.0.1", ["v", "2", ".", "0", ".", "1"]),
            ("12 apples", ["1", "2", " apples"]),
            ("x²½", ["x", "²", "½"]),
            ("I'll pay $1,000", ["I", "'ll", " pay", " $", "1", ",", "0", "0", "0"]),
            (" 42\n", [" ", "4", "2", "\n"]),
        ])
    }

    func testLlama3Pattern() {
        check(.llama3, [
            ("I'LL DON'T we'Re", ["I", "'LL", " DON", "'T", " we", "'Re"]),
            ("1234567 89", ["123", "456", "7", " ", "89"]),
            ("\tx  y", ["\tx", " ", " y"]),
            ("hello.\n\nworld", ["hello", ".\n\n", "world"]),
            ("a\r\n\r\nb", ["a", "\r\n\r\n", "b"]),
            ("  \n  x", ["  \n", " ", " x"]),
            ("x  ", ["x", "  "]),
            ("(a)", ["(a", ")"]),
            ("!!\n\n", ["!!\n\n"]),
            ("ab12cd", ["ab", "12", "cd"]),
            ("'sup", ["'s", "up"]),
            (" ?!\n\tz", [" ?!\n", "\tz"]),
        ])
    }

    func testQwen2Pattern() {
        check(.qwen2, [
            ("1234567", ["1", "2", "3", "4", "5", "6", "7"]),
            ("I'LL", ["I", "'LL"]),
            ("a\r\nb", ["a", "\r\n", "b"]),
        ])
    }

    func testDefaultPattern() {
        check(.default, [
            ("x = $12345.67;", ["x", " ", "=", " ", "$", "123", "45", ".", "67", ";"]),
            ("a`b`c", ["a", "`", "b", "`", "c"]),
            ("hello, world!!", ["hello", ",", " world", "!!"]),
            ("1234567 ab", ["123", "456", "7", " ab"]),
            ("a+b=c", ["a", "+", "b", "=", "c"]),
        ])
    }

    func testNames() {
        XCTAssertEqual(PreTokenizer(name: "smollm"), .smollm)
        XCTAssertEqual(PreTokenizer(name: "starcoder"), .smollm)
        XCTAssertEqual(PreTokenizer(name: "llama-bpe"), .llama3)
        XCTAssertEqual(PreTokenizer(name: "qwen2"), .qwen2)
        XCTAssertEqual(PreTokenizer(name: "gpt2"), .gpt2)
        XCTAssertEqual(PreTokenizer(name: "gpt-2"), .gpt2)
        XCTAssertEqual(PreTokenizer(name: "default"), .default)
        XCTAssertEqual(PreTokenizer(name: ""), .default)
        XCTAssertNil(PreTokenizer(name: "deepseek-llm"))
        XCTAssertTrue(PreTokenizer.llama3.addsBOSByDefault)
        XCTAssertFalse(PreTokenizer.smollm.addsBOSByDefault)
    }

    /// Invalid UTF-8 splits as llama.cpp splits its U+FFFD stand-ins, keeps its bytes, and never
    /// traps — including truncated sequences at the very end.
    func testInvalidUTF8() {
        let text: [UInt8] = [0x61, 0xFF, 0xC3, 0x28, 0x62, 0x20, 0xE2, 0x82]
        for pre in [PreTokenizer.gpt2, .smollm, .llama3, .qwen2, .default] {
            let pieces = pre.split(text)
            XCTAssertEqual(Array(pieces.joined()), text, "\(pre)")
        }
        XCTAssertEqual(PreTokenizer.gpt2.split(text), [[0x61], [0xFF, 0xC3, 0x28], [0x62], [0x20, 0xE2, 0x82]])
        for bytes: [UInt8] in [[0x80], [0xC3], [0xF0, 0x9F], [0xF7, 0xBF, 0xBF, 0xBF], [0xED, 0xA0, 0x80], [0xC0, 0x80]] {
            XCTAssertEqual(Array(PreTokenizer.smollm.split(bytes).joined()), bytes)
        }
    }

    func testEmptyText() {
        for pre in [PreTokenizer.gpt2, .smollm, .llama3, .qwen2, .default] {
            XCTAssertEqual(pre.split([]), [])
        }
    }
}
