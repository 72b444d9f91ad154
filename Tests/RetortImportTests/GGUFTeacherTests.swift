import Foundation
import RetortImport
import RetortTestSupport
import XCTest

/// The real teacher (SmolLM2-135M-Instruct, Q4_1), checked against values read once with gguf-py
/// (`gguf.GGUFReader` + `gguf.quants.dequantize`, llama.cpp gguf-py 0.x). Skipped when missing.
final class GGUFTeacherTests: XCTestCase {
    private func openTeacher() throws -> GGUFFile {
        try GGUFFile.open(path: try TestInputs.requireTeacher())
    }

    func testHeaderAndMetadata() throws {
        let start = Date()
        let file = try openTeacher()
        print("GGUF teacher open: \(String(format: "%.1f", Date().timeIntervalSince(start) * 1000)) ms")

        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.alignment, 32)
        XCTAssertEqual(file.fileSize, 98_362_432)
        XCTAssertEqual(file.dataOffset, 1_785_664)
        XCTAssertEqual(file.metadata.count, 33)
        XCTAssertEqual(file.metadata.first?.key, "general.architecture")
        XCTAssertEqual(file.metadata.last?.key, "general.quantization_version")

        XCTAssertEqual(try file.string("general.architecture"), "llama")
        XCTAssertEqual(try file.int("llama.block_count"), 30)
        XCTAssertEqual(try file.int("llama.context_length"), 8192)
        XCTAssertEqual(try file.int("llama.embedding_length"), 576)
        XCTAssertEqual(try file.int("llama.feed_forward_length"), 1536)
        XCTAssertEqual(try file.int("llama.attention.head_count"), 9)
        XCTAssertEqual(try file.int("llama.attention.head_count_kv"), 3)
        XCTAssertEqual(try file.int("llama.vocab_size"), 49152)
        XCTAssertEqual(try file.int("llama.rope.dimension_count"), 64)
        XCTAssertEqual(try file.float("llama.rope.freq_base"), 100_000)
        XCTAssertEqual(try file.float("llama.attention.layer_norm_rms_epsilon"), 9.999999747378752e-06)
        XCTAssertEqual(try file.int("general.file_type"), 3)
        XCTAssertEqual(try file.bool("tokenizer.ggml.add_bos_token"), false)
        XCTAssertEqual(try file.string("tokenizer.ggml.model"), "gpt2")
        XCTAssertEqual(try file.string("tokenizer.ggml.pre"), "smollm")
        XCTAssertEqual(try file.int("tokenizer.ggml.bos_token_id"), 1)
        XCTAssertEqual(try file.int("tokenizer.ggml.eos_token_id"), 2)
        XCTAssertEqual(try file.stringArray("general.languages"), ["en"])
        XCTAssertTrue(try file.string("tokenizer.chat_template").hasPrefix("{% for message in messages %}"))

        let tokens = try file.stringArray("tokenizer.ggml.tokens")
        XCTAssertEqual(tokens.count, 49152)
        XCTAssertEqual(Array(tokens[0 ..< 3]), ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
        XCTAssertEqual(tokens[256], "ĠĠ")
        XCTAssertEqual(tokens[49151], "ectable")
        let merges = try file.stringArray("tokenizer.ggml.merges")
        XCTAssertEqual(merges.count, 48900)
        XCTAssertEqual(merges.first, "Ġ t")
        XCTAssertEqual(merges.last, "ect able")
        let tokenTypes = try file.intArray("tokenizer.ggml.token_type")
        XCTAssertEqual(tokenTypes.count, 49152)
        XCTAssertEqual(Array(tokenTypes.prefix(5)), [3, 3, 3, 3, 3])
        XCTAssertEqual(tokenTypes.last, 1)
    }

    func testTensorDirectory() throws {
        let file = try openTeacher()
        XCTAssertEqual(file.tensors.count, 272)
        let counts = Dictionary(grouping: file.tensors, by: \.type).mapValues(\.count)
        XCTAssertEqual(counts, [.q4_1: 210, .f32: 61, .q8_0: 1])

        let embedding = try XCTUnwrap(file.tensor(named: "token_embd.weight"))
        XCTAssertEqual(embedding.type, .q8_0)
        XCTAssertEqual(embedding.dims, [576, 49152])
        XCTAssertEqual(embedding.offset, 1_785_664)
        XCTAssertEqual(embedding.byteCount, 30_081_024)
        XCTAssertEqual(file.tensors.first, embedding)
        XCTAssertEqual(file.tensor(named: "blk.0.attn_norm.weight")?.offset, 31_866_688)
        XCTAssertEqual(file.tensor(named: "blk.0.ffn_down.weight")?.dims, [1536, 576])
        XCTAssertEqual(file.tensor(named: "blk.9.attn_v.weight")?.dims, [576, 192])
        let last = try XCTUnwrap(file.tensors.last)
        XCTAssertEqual(last.name, "output_norm.weight")
        XCTAssertEqual(last.offset + last.byteCount, 98_362_432)
    }

    /// (tensor, [(index, value)], sum in Double, sum of |x|) printed by gguf-py.
    private static let golden: [(String, [(Int, Float)], Double, Double)] = [
        ("token_embd.weight",
         [(0, -0.10654449462890625), (1, 0.032978057861328125), (31, -0.20040512084960938),
          (32, -0.09348678588867188), (1000, 0.007411956787109375), (14_155_776, -0.031681060791015625),
          (28_311_551, -0.0417022705078125)],
         -15353.04449415207, 2_802_153.619805813),
        ("blk.0.attn_q.weight",
         [(0, -0.0963134765625), (1, 0.1573486328125), (32, -0.34619140625), (33, 0.3294677734375),
          (1000, -0.138427734375), (165_888, 0.171875), (331_775, -0.255859375)],
         59.22322082519531, 63395.39872741699),
        ("blk.29.ffn_down.weight",
         [(0, -0.2733154296875), (2, 0.186279296875), (33, -0.016998291015625), (1000, 0.08392333984375),
          (442_368, 0.033843994140625), (884_735, 0.056640625)],
         49.83570861816406, 126_250.91435241699),
        ("output_norm.weight",
         [(0, 1.7578125), (1, 1.8203125), (288, 1.78125), (575, 1.984375)],
         1038.33203125, 1045.09765625),
    ]

    func testDequantizedValuesMatchGGUFPy() throws {
        let file = try openTeacher()
        for (name, samples, sum, absSum) in Self.golden {
            let values = try file.dequantize(named: name)
            ggufAssertClose(samples.map { values[$0.0] }, samples.map(\.1), tolerance: GGUFTolerance.golden, name)
            let total = values.reduce(0.0) { $0 + Double($1) }
            let absTotal = values.reduce(0.0) { $0 + Double(abs($1)) }
            XCTAssertEqual(total, sum, accuracy: abs(sum) * 1e-9 + 1e-6, "\(name) sum")
            XCTAssertEqual(absTotal, absSum, accuracy: absSum * 1e-9, "\(name) sum of |x|")
        }
    }

    /// Dequantizes every tensor once and reports the throughput (informational).
    func testDequantizeEverything() throws {
        let file = try openTeacher()
        let start = Date()
        var elements = 0
        for t in file.tensors {
            let values = try file.dequantize(t)
            XCTAssertEqual(values.count, t.elementCount)
            elements += values.count
        }
        let seconds = Date().timeIntervalSince(start)
        XCTAssertEqual(elements, 134_515_008)
        print("GGUF teacher dequantize: \(elements) values in \(String(format: "%.3f", seconds)) s "
              + "(\(String(format: "%.0f", Double(elements) / seconds / 1e6)) M values/s)")
    }
}
