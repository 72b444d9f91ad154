import Foundation
import RetortImport
import RetortRuntime
import RetortTestSupport
import XCTest

/// The teacher's tokenizer, read from its GGUF, against llama.cpp's `llama-tokenize` token for
/// token (fixtures from tools/gen-tokenizer-golden.sh). Skipped when the teacher is missing.
final class TokenizerGoldenTests: XCTestCase {
    private static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    private func teacherTokenizer() throws -> BPETokenizer {
        let start = Date()
        let tokenizer = try BPETokenizer.load(gguf: try GGUFFile.open(path: try TestInputs.requireTeacher()))
        print("teacher tokenizer loaded in \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
        return tokenizer
    }

    private func fixture(_ name: String) throws -> Data {
        try Data(contentsOf: Self.fixtures.appendingPathComponent(name))
    }

    private func parseIDs(_ text: Substring) -> [Int32] {
        text.split(separator: ",").map { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))! }
    }

    func testTeacherVocabulary() throws {
        let tokenizer = try teacherTokenizer()
        XCTAssertEqual(tokenizer.vocabularySize, 49_152)
        XCTAssertEqual(tokenizer.preTokenizer, .smollm)
        XCTAssertEqual(tokenizer.bosID, 1)
        XCTAssertEqual(tokenizer.eosID, 2)
        XCTAssertEqual(tokenizer.unknownID, 0)
        XCTAssertEqual(tokenizer.paddingID, 2)
        XCTAssertFalse(tokenizer.addBOS)
        XCTAssertFalse(tokenizer.addEOS)
        XCTAssertEqual(tokenizer.id(of: "<|im_start|>"), 1)
        XCTAssertEqual(tokenizer.id(of: "<|im_end|>"), 2)
        XCTAssertEqual(tokenizer.tokenText(33662), "Ġhello")
        XCTAssertEqual(tokenizer.pieceBytes(33662), Array(" hello".utf8))
        // llama.cpp's end-of-generation set for this vocabulary: <|endoftext|>, <|im_end|> (EOS)
        // and <reponame> (its FIM "repo" token).
        let endOfGeneration = (0..<Int32(tokenizer.vocabularySize)).filter(tokenizer.isEndOfGeneration)
        XCTAssertEqual(endOfGeneration, [0, 2, 4])
    }

    /// Varied strings: punctuation, numbers, whitespace, scripts, emoji, code, URLs, specials.
    func testGoldenStrings() throws {
        let tokenizer = try teacherTokenizer()
        let table = String(decoding: try fixture("tokenizer-golden.tsv"), as: UTF8.self)
        var rows = 0
        var mismatches: [String] = []
        for line in table.split(separator: "\n", omittingEmptySubsequences: true) where !line.hasPrefix("#") {
            let columns = line.split(separator: "\t", omittingEmptySubsequences: false)
            XCTAssertEqual(columns.count, 3, "malformed row: \(line)")
            guard columns.count == 3 else { continue }
            let parseSpecial = columns[0] == "1"
            let input = unescape(columns[1])
            let expected = parseIDs(columns[2])
            let ids = tokenizer.encode(input, addSpecial: false, parseSpecial: parseSpecial)
            rows += 1
            if ids != expected {
                let at = firstDifference(ids, expected) ?? 0
                mismatches.append("""
                    \(String(decoding: input, as: UTF8.self).debugDescription) (parseSpecial: \(parseSpecial)) first differs at token \(at)
                      llama.cpp: \(expected)
                      ours:      \(ids)
                    """)
            }
            XCTAssertEqual(tokenizer.decode(ids), input, "round trip of \(columns[1])")
        }
        XCTAssertGreaterThan(rows, 100)
        if !mismatches.isEmpty {
            print(mismatches.prefix(5).joined(separator: "\n"))
            XCTFail("\(mismatches.count) of \(rows) golden strings differ from llama.cpp (first ones printed above)")
        }
    }

    /// The first 4 KB of Hamlet.
    func testGoldenHamlet() throws {
        let tokenizer = try teacherTokenizer()
        let text = [UInt8](try fixture("tokenizer-golden-hamlet.txt"))
        let expected = parseIDs(String(decoding: try fixture("tokenizer-golden-hamlet.ids"), as: UTF8.self)[...])
        let ids = tokenizer.encode(text, addSpecial: false)
        if let at = firstDifference(ids, expected) {
            let window = max(0, at - 3)..<max(at, min(at + 5, ids.count, expected.count))
            XCTFail("""
                Hamlet differs from llama.cpp at token \(at) (after \
                \(String(decoding: tokenizer.decode(Array(ids[..<at])).suffix(40), as: UTF8.self).debugDescription)):
                  llama.cpp: \(expected[window].map { "\($0) \(tokenizer.tokenText($0).debugDescription)" })
                  ours:      \(ids[window].map { "\($0) \(tokenizer.tokenText($0).debugDescription)" })
                """)
        }
        XCTAssertEqual(tokenizer.decode(ids), text)
    }

    /// The whole corpus: token count and ids hash as llama.cpp's, and encode → decode lossless.
    func testCorpusMatchesLlamaCppAndRoundTrips() throws {
        let tokenizer = try teacherTokenizer()
        let table = String(decoding: try fixture("tokenizer-golden-corpus.tsv"), as: UTF8.self)
        for line in table.split(separator: "\n") where !line.hasPrefix("#") {
            let columns = line.split(separator: "\t").map(String.init)
            let (split, size, count, hash) = (columns[0], Int(columns[1])!, Int(columns[2])!, UInt64(columns[3], radix: 16)!)
            let text = [UInt8](try Data(contentsOf: URL(fileURLWithPath: try TestInputs.requireSplit(split))))
            XCTAssertEqual(text.count, size, "\(split).txt is not the corpus the fixture was made from")
            guard text.count == size else { continue }

            let start = Date()
            let ids = tokenizer.encode(text, addSpecial: false)
            let encodeSeconds = Date().timeIntervalSince(start)
            let decoded = tokenizer.decode(ids)
            print("corpus \(split): \(text.count) bytes → \(ids.count) tokens, encode \(String(format: "%.2f", encodeSeconds)) s "
                  + "(\(String(format: "%.2f", Double(text.count) / 1e6 / encodeSeconds)) MB/s)")

            XCTAssertEqual(ids.count, count, "\(split): token count differs from llama.cpp")
            XCTAssertEqual(fnv1a64(ids), hash, "\(split): token ids differ from llama.cpp (run tools/gen-tokenizer-golden.sh and compare)")
            if let at = firstDifference(decoded, text) {
                XCTFail("\(split): decode(encode(text)) differs from the text at byte \(at)")
            }
        }
    }

    // MARK: Fixture helpers

    /// Index of the first element that differs (or the shorter length), nil when equal.
    private func firstDifference<T: Equatable>(_ a: [T], _ b: [T]) -> Int? {
        if let i = a.indices.first(where: { $0 >= b.count || a[$0] != b[$0] }) { return i }
        return a.count == b.count ? nil : a.count
    }

    /// Inverse of the generator's escaping: \\ \t \n \r \xHH.
    private func unescape(_ text: Substring) -> [UInt8] {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            guard bytes[i] == UInt8(ascii: "\\"), i + 1 < bytes.count else {
                out.append(bytes[i])
                i += 1
                continue
            }
            switch bytes[i + 1] {
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "x"):
                out.append(UInt8(String(decoding: bytes[(i + 2)..<(i + 4)], as: UTF8.self), radix: 16)!)
                i += 2
            default: out.append(bytes[i + 1])
            }
            i += 2
        }
        return out
    }

    /// FNV-1a 64 over the ids, each as 4 little-endian bytes (as the generator computes it).
    private func fnv1a64(_ ids: [Int32]) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for id in ids {
            let value = UInt32(bitPattern: id)
            for shift in stride(from: 0, to: 32, by: 8) {
                hash = (hash ^ UInt64((value >> UInt32(shift)) & 0xFF)) &* 0x0000_0100_0000_01B3
            }
        }
        return hash
    }
}
