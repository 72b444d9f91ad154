import RetortRuntime

extension LlamaConfig {
    /// The shape recorded in an .rtm file.
    public init(rtm file: RTMFile) throws {
        let c = try RuntimeConfig(file: file)
        self.init(vocabSize: c.vocabSize, dim: c.dim, layerCount: c.layerCount, headCount: c.headCount,
                  kvHeadCount: c.kvHeadCount, headDim: c.headDim, ffnDim: c.ffnDim, ropeBase: c.ropeBase,
                  normEpsilon: c.normEpsilon, contextLength: c.contextLength, tiedEmbeddings: c.tiedEmbeddings)
        try validate(source: file.path)
    }
}

extension LlamaModel {
    /// Imports an .rtm file into FP32 on the host (int8 and f16 tensors are dequantized), so every
    /// host stage (export, evaluation, training) works on any model Retort writes.
    public static func load(rtm file: RTMFile) throws -> LlamaModel {
        let model = LlamaModel(config: try LlamaConfig(rtm: file))
        for entry in model.tensorTable {
            guard let t = file.tensor(named: entry.name) else {
                throw ModelError(file: file.path, field: entry.name, message: "tensor missing")
            }
            guard t.dims == entry.dims else {
                throw ModelError(file: file.path, field: entry.name, message: "shape \(t.dims) does not match the config's \(entry.dims)")
            }
            if entry.dims.count == 1 {
                guard t.dtype == .f32 else {
                    throw ModelError(file: file.path, field: entry.name, message: "vectors must be f32 (found \(t.dtype))")
                }
                entry.buffer.pointer.update(from: t.data.assumingMemoryBound(to: Float.self), count: entry.buffer.count)
                continue
            }
            let rows = entry.dims[1]
            let matrix = try RuntimeMatrix(t, rows: rows, cols: entry.dims[0], file: file.path)
            for r in 0..<rows { matrix.dequantizeRow(r, into: entry.buffer.pointer + r * entry.dims[0]) }
        }
        return model
    }
}
