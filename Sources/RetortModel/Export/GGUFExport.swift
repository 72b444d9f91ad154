import RetortImport
import RetortRuntime

/// Tensor types `makeGGUF` can write: what llama.cpp runs as the same model.
public enum GGUFExportType: String, Sendable, CaseIterable {
    case f32, f16, q8_0

    var ggmlType: GGMLType {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .q8_0: .q8_0
        }
    }

    /// `general.file_type` (llama.cpp's LLAMA_FTYPE): ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q8_0 = 7.
    var fileType: UInt32 {
        switch self {
        case .f32: 0
        case .f16: 1
        case .q8_0: 7
        }
    }
}

/// A GGUF file of `model` llama.cpp can load: `llama.*` hyperparameters, the tokenizer, and every
/// tensor — matrices in `type`, norm vectors in F32 (as llama.cpp's own converter does).
public func makeGGUF(model: LlamaModel, tokenizer: TokenizerDefinition, type: GGUFExportType,
                     name: String = "retort") throws -> GGUFWriter {
    let c = model.config
    var w = GGUFWriter()
    w.set("general.architecture", .string("llama"))
    w.set("general.name", .string(name))
    w.set("general.file_type", .uint32(type.fileType))
    w.set("llama.block_count", .uint32(UInt32(c.layerCount)))
    w.set("llama.context_length", .uint32(UInt32(c.contextLength)))
    w.set("llama.embedding_length", .uint32(UInt32(c.dim)))
    w.set("llama.feed_forward_length", .uint32(UInt32(c.ffnDim)))
    w.set("llama.attention.head_count", .uint32(UInt32(c.headCount)))
    w.set("llama.attention.head_count_kv", .uint32(UInt32(c.kvHeadCount)))
    w.set("llama.attention.key_length", .uint32(UInt32(c.headDim)))
    w.set("llama.attention.value_length", .uint32(UInt32(c.headDim)))
    w.set("llama.rope.freq_base", .float32(c.ropeBase))
    w.set("llama.rope.dimension_count", .uint32(UInt32(c.headDim)))
    w.set("llama.attention.layer_norm_rms_epsilon", .float32(c.normEpsilon))
    w.set("llama.vocab_size", .uint32(UInt32(c.vocabSize)))
    tokenizer.write(into: &w)
    w.set("general.quantization_version", .uint32(2))
    for entry in model.tensorTable {
        let count = entry.buffer.count
        if entry.dims.count == 1 || type == .f32 {
            w.addTensor(name: entry.name, dims: entry.dims, values: entry.buffer.array)
        } else {
            let bytes = try quantize(type.ggmlType, from: UnsafePointer(entry.buffer.pointer), count: count)
            w.addTensor(name: entry.name, dims: entry.dims, type: type.ggmlType, bytes: bytes)
        }
    }
    return w
}
