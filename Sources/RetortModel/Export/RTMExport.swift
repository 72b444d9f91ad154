import RetortRuntime

/// How `makeRTM` stores the matrices (norm vectors are always f32).
public enum RTMWeightFormat: String, Sendable, CaseIterable {
    case f32, f16
    /// Round-to-nearest absmax int8 per output channel: scale = max|w_row| / 127. No calibration;
    /// activations are quantized per token at run time (dynamic W8A8).
    case int8
}

/// An .rtm file of `model`: hyperparameters, tokenizer, provenance, tensors in the runtime's layout.
/// With `weights == .int8` and a `groupSize`, int8 scales are per group of `groupSize`
/// consecutive inputs of each row (`int8PerGroup`) instead of per row.
public func makeRTM(model: LlamaModel, tokenizer: TokenizerDefinition, weights: RTMWeightFormat,
                    groupSize: Int? = nil, activationDigits: Int = 1, provenance: [(String, RTMValue)] = []) -> RTMWriter {
    var w = rtmModelWriter(config: model.config, tokenizer: tokenizer)
    w.set("provenance.weights", .string(weights.rawValue))
    for (key, value) in provenance { w.set("provenance." + key, value) }
    for entry in model.tensorTable {
        let values = UnsafeBufferPointer(entry.buffer.buffer)
        if entry.dims.count == 1 || weights == .f32 {
            w.addTensor(name: entry.name, dtype: .f32, dims: entry.dims, data: floatBytes(values))
        } else if weights == .f16 {
            w.addTensor(name: entry.name, dtype: .f16, dims: entry.dims, data: halfBytes(values))
        } else if let groupSize {
            let (q, scales) = quantizeInt8PerGroup(values, rows: entry.dims[1], cols: entry.dims[0], groupSize: groupSize)
            w.addTensor(name: entry.name, dtype: .int8PerGroup, dims: entry.dims,
                        data: q.map { UInt8(bitPattern: $0) }, scales: scales, groupSize: groupSize,
                        activationDigits: activationDigits)
        } else {
            let (q, scales) = quantizeInt8PerChannel(values, rows: entry.dims[1], cols: entry.dims[0])
            w.addTensor(name: entry.name, dtype: .int8PerChannel, dims: entry.dims,
                        data: q.map { UInt8(bitPattern: $0) }, scales: scales, activationDigits: activationDigits)
        }
    }
    return w
}

/// A writer holding the model's hyperparameters and tokenizer, no tensors yet: the common start
/// of every .rtm file Retort writes.
public func rtmModelWriter(config c: LlamaConfig, tokenizer: TokenizerDefinition) -> RTMWriter {
    var w = RTMWriter()
    w.set("model.architecture", .string("llama"))
    w.set("llama.vocab_size", .int(Int64(c.vocabSize)))
    w.set("llama.embedding_length", .int(Int64(c.dim)))
    w.set("llama.block_count", .int(Int64(c.layerCount)))
    w.set("llama.attention.head_count", .int(Int64(c.headCount)))
    w.set("llama.attention.head_count_kv", .int(Int64(c.kvHeadCount)))
    w.set("llama.attention.key_length", .int(Int64(c.headDim)))
    w.set("llama.feed_forward_length", .int(Int64(c.ffnDim)))
    w.set("llama.rope.freq_base", .float(Double(c.ropeBase)))
    w.set("llama.attention.layer_norm_rms_epsilon", .float(Double(c.normEpsilon)))
    w.set("llama.context_length", .int(Int64(c.contextLength)))
    w.set("llama.tied_embeddings", .bool(c.tiedEmbeddings))
    tokenizer.write(into: &w)
    return w
}

/// Symmetric absmax int8 per row: scale = max|w| / 127 (0 for an all-zero row), q = round(w / scale).
public func quantizeInt8PerChannel(_ w: UnsafeBufferPointer<Float>, rows: Int, cols: Int) -> (q: [Int8], scales: [Float]) {
    var q = [Int8](repeating: 0, count: rows * cols)
    var scales = [Float](repeating: 0, count: rows)
    for r in 0..<rows {
        var m: Float = 0
        for i in 0..<cols { m = max(m, abs(w[r * cols + i])) }
        let s = m / 127
        scales[r] = s
        let inv: Float = s > 0 ? 1 / s : 0
        for i in 0..<cols {
            q[r * cols + i] = Int8(max(-127, min(127, (w[r * cols + i] * inv).rounded(.toNearestOrEven))))
        }
    }
    return (q, scales)
}

/// Symmetric absmax int8 per group of `groupSize` consecutive inputs of each row; scales (rows, cols / groupSize).
public func quantizeInt8PerGroup(_ w: UnsafeBufferPointer<Float>, rows: Int, cols: Int,
                                 groupSize g: Int) -> (q: [Int8], scales: [Float]) {
    precondition(g > 0 && cols % g == 0, "group size must divide the row length")
    var q = [Int8](repeating: 0, count: rows * cols)
    var scales = [Float](repeating: 0, count: rows * cols / g)
    for r in 0..<rows {
        for j in 0..<cols / g {
            let base = r * cols + j * g
            var m: Float = 0
            for i in 0..<g { m = max(m, abs(w[base + i])) }
            let s = m / 127
            scales[r * (cols / g) + j] = s
            let inv: Float = s > 0 ? 1 / s : 0
            for i in 0..<g { q[base + i] = Int8(max(-127, min(127, (w[base + i] * inv).rounded(.toNearestOrEven)))) }
        }
    }
    return (q, scales)
}

public func floatBytes(_ v: UnsafeBufferPointer<Float>) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: v.count * 4) { out, n in
        UnsafeMutableRawBufferPointer(out).copyMemory(from: UnsafeRawBufferPointer(v))
        n = v.count * 4
    }
}

public func halfBytes(_ v: UnsafeBufferPointer<Float>) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: v.count * 2)
    for i in 0..<v.count {
        let h = floatToHalf(v[i])
        out[2 * i] = UInt8(h & 0xFF)
        out[2 * i + 1] = UInt8(h >> 8)
    }
    return out
}
