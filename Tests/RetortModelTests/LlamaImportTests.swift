import RetortImport
import RetortModel
import RetortTestSupport
import XCTest

/// Builds GGUF files of tiny models with GGUFWriter and imports them.
final class LlamaImportTests: XCTestCase {
    private func gguf(for model: LlamaModel, type: GGMLType = .f32, omit: String? = nil,
                      override: [String: GGUFValue] = [:]) throws -> GGUFFile {
        let c = model.config
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("llama.block_count", .uint32(UInt32(c.layerCount)))
        w.set("llama.embedding_length", .uint32(UInt32(c.dim)))
        w.set("llama.feed_forward_length", .uint32(UInt32(c.ffnDim)))
        w.set("llama.attention.head_count", .uint32(UInt32(c.headCount)))
        w.set("llama.attention.head_count_kv", .uint32(UInt32(c.kvHeadCount)))
        w.set("llama.rope.freq_base", .float32(c.ropeBase))
        w.set("llama.attention.layer_norm_rms_epsilon", .float32(c.normEpsilon))
        w.set("llama.context_length", .uint32(UInt32(c.contextLength)))
        w.set("llama.vocab_size", .uint32(UInt32(c.vocabSize)))
        for (k, v) in override { w.set(k, v) }
        for entry in model.tensorTable where entry.name != omit {
            let values = entry.buffer.array
            if type == .f32 || entry.dims.count == 1 {
                w.addTensor(name: entry.name, dims: entry.dims, values: values)
            } else {
                let bytes = try values.withUnsafeBufferPointer { try quantize(type, from: $0.baseAddress!, count: values.count) }
                w.addTensor(name: entry.name, dims: entry.dims, type: type, bytes: bytes)
            }
        }
        return try GGUFFile(bytes: w.serialize(), path: "tiny.gguf")
    }

    func testF32RoundTripGivesIdenticalLogits() throws {
        var config = TinyModels.config
        config.dim = 32        // multiple of 32 so quantized block types fit
        config.ffnDim = 64
        config.vocabSize = 64
        config.headCount = 4
        config.headDim = 8
        let model = TinyModels.random(config, seed: 2)
        let loaded = try LlamaModel.load(gguf: gguf(for: model))
        XCTAssertEqual(loaded.config, config)
        let tokens: [Int32] = [1, 5, 9, 63, 0]
        let a = try batchedLogits(model, tokens, capacity: 8)
        let b = try batchedLogits(loaded, tokens, capacity: 8)
        XCTAssertEqual(a, b)
        // Q8_0 import: every weight within half a quantization step of its block (absmax / 127),
        // plus the fp16 rounding of the block scale (relative 2⁻¹¹, times |q| ≤ 127).
        let q8 = try LlamaModel.load(gguf: gguf(for: model, type: .q8_0))
        for (original, imported) in zip(model.tensorTable, q8.tensorTable) {
            let a = original.buffer.array, b = imported.buffer.array
            for block in stride(from: 0, to: a.count, by: 32) {
                let end = min(block + 32, a.count)
                let step = a[block..<end].map(abs).max()! / 127
                for i in block..<end {
                    XCTAssertLessThanOrEqual(abs(a[i] - b[i]), step * (0.5 + 127.0 / 2048) + 1e-7, "\(original.name)[\(i)]")
                }
            }
        }
    }

    func testMissingTensorAndWrongShapeAreNamed() throws {
        var config = TinyModels.config
        config.dim = 32
        config.ffnDim = 64
        config.vocabSize = 64
        config.headDim = 8
        let model = TinyModels.random(config)
        XCTAssertThrowsError(try LlamaModel.load(gguf: gguf(for: model, omit: "blk.1.ffn_up.weight"))) {
            XCTAssertTrue("\($0)".contains("blk.1.ffn_up.weight"), "\($0)")
        }
        XCTAssertThrowsError(try LlamaModel.load(gguf: gguf(for: model, override: ["llama.feed_forward_length": .uint32(32)]))) {
            XCTAssertTrue("\($0)".contains("ffn_gate.weight"), "\($0)")
        }
        XCTAssertThrowsError(try LlamaModel.load(gguf: gguf(for: model, override: ["llama.attention.head_count_kv": .uint32(3)]))) {
            XCTAssertTrue("\($0)".contains("head_count_kv"), "\($0)")
        }
        XCTAssertThrowsError(try LlamaModel.load(gguf: gguf(for: model, override: ["general.architecture": .string("mamba")]))) {
            XCTAssertTrue("\($0)".contains("general.architecture"), "\($0)")
        }
    }
}
