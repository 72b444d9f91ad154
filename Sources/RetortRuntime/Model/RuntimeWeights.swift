/// A weight matrix W[N][K] (N outputs, K inputs, K contiguous) viewed in place in the mapped file,
/// in whichever dtype the file stores it.
public struct RuntimeMatrix: @unchecked Sendable {   // read-only views into an immutable mapping
    public let name: String
    public let dtype: RTMDType
    public let rows: Int                        // N
    public let cols: Int                        // K
    public let data: UnsafeRawPointer
    public let scales: UnsafePointer<Float>?    // int8: (N) per channel or (N, K/groupSize)
    public let groupSize: Int
    public let activationScale: Float           // static int8 activation scale, 0 = dynamic
    public let activationDigits: Int            // int8: 1 = W8A8, 2 = activation + residual digits

    public init(_ t: RTMTensor, rows: Int, cols: Int, file: String) throws(RuntimeError) {
        guard t.dims == [cols, rows] else {
            throw RuntimeError(file: file, field: t.name, message: "shape " + describe(t.dims) + " does not match the config's " + describe([cols, rows]))
        }
        if t.dtype == .int8PerChannel || t.dtype == .int8PerGroup {
            guard t.scales != nil else { throw RuntimeError(file: file, field: t.name, message: "int8 tensor without scales") }
        }
        name = t.name
        dtype = t.dtype
        self.rows = rows
        self.cols = cols
        data = t.data
        scales = t.scales
        groupSize = t.groupSize
        activationScale = t.activationScale
        activationDigits = t.activationDigits
    }

    public var isInt8: Bool { dtype == .int8PerChannel || dtype == .int8PerGroup }

    /// Writes row `r` as f32 into `out` (K values): embedding lookup.
    public func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .f32:
            out.update(from: data.assumingMemoryBound(to: Float.self) + r * cols, count: cols)
        case .f16:
            let src = data.assumingMemoryBound(to: UInt16.self) + r * cols
            for i in 0..<cols { out[i] = halfToFloat(src[i]) }
        case .int8PerChannel:
            let src = data.assumingMemoryBound(to: Int8.self) + r * cols
            let s = scales![r]
            for i in 0..<cols { out[i] = Float(src[i]) * s }
        case .int8PerGroup:
            let src = data.assumingMemoryBound(to: Int8.self) + r * cols
            let groups = cols / groupSize
            for i in 0..<cols { out[i] = Float(src[i]) * scales![r * groups + i / groupSize] }
        }
    }
}

func describe(_ dims: [Int]) -> String {
    var s = "["
    for (i, d) in dims.enumerated() { s += (i == 0 ? "" : ", ") + String(d) }
    return s + "]"
}

/// One transformer block's parameters.
public struct RuntimeLayer: @unchecked Sendable {
    public let attnNorm: UnsafePointer<Float>   // (D)
    public let wq: RuntimeMatrix                // (H·E, D)
    public let wk: RuntimeMatrix                // (G·E, D)
    public let wv: RuntimeMatrix                // (G·E, D)
    public let wo: RuntimeMatrix                // (D, H·E)
    public let ffnNorm: UnsafePointer<Float>    // (D)
    public let wGate: RuntimeMatrix             // (F, D)
    public let wUp: RuntimeMatrix               // (F, D)
    public let wDown: RuntimeMatrix             // (D, F)
}

/// A model loaded by the runtime: blueprint, tokenizer, and weights viewed in the mapped file
/// (no copies, no repacking).
public final class RuntimeModel: @unchecked Sendable {
    public let file: RTMFile
    public let config: RuntimeConfig
    public let tokenizer: BPETokenizer
    public let tokenEmbedding: RuntimeMatrix    // (V, D)
    public let layers: [RuntimeLayer]
    public let finalNorm: UnsafePointer<Float>  // (D)
    public let output: RuntimeMatrix            // (V, D); the embedding when tied

    /// Every matrix the forward pass multiplies by (the embedding only when it is the head).
    public var matrices: [RuntimeMatrix] {
        var all = layers.flatMap { [$0.wq, $0.wk, $0.wv, $0.wo, $0.wGate, $0.wUp, $0.wDown] }
        all.append(output)
        return all
    }

    public init(file: RTMFile) throws(RuntimeError) {
        self.file = file
        let c = try RuntimeConfig(file: file)
        config = c
        tokenizer = try BPETokenizer(rtm: file)
        guard tokenizer.vocabularySize == c.vocabSize else {
            throw RuntimeError(file: file.path, field: "tokenizer.tokens",
                               message: String(tokenizer.vocabularySize) + " tokens but llama.vocab_size is " + String(c.vocabSize))
        }
        func tensor(_ name: String) throws(RuntimeError) -> RTMTensor {
            guard let t = file.tensor(named: name) else {
                throw RuntimeError(file: file.path, field: name, message: "tensor missing")
            }
            return t
        }
        func matrix(_ name: String, _ rows: Int, _ cols: Int) throws(RuntimeError) -> RuntimeMatrix {
            try RuntimeMatrix(try tensor(name), rows: rows, cols: cols, file: file.path)
        }
        func vector(_ name: String, _ count: Int) throws(RuntimeError) -> UnsafePointer<Float> {
            let t = try tensor(name)
            guard t.dtype == .f32, t.dims == [count] else {
                throw RuntimeError(file: file.path, field: name, message: "expected f32 vector of " + String(count))
            }
            return t.data.assumingMemoryBound(to: Float.self)
        }
        tokenEmbedding = try matrix("token_embd.weight", c.vocabSize, c.dim)
        var layers: [RuntimeLayer] = []
        for i in 0..<c.layerCount {
            let p = "blk." + String(i) + "."
            layers.append(RuntimeLayer(
                attnNorm: try vector(p + "attn_norm.weight", c.dim),
                wq: try matrix(p + "attn_q.weight", c.qDim, c.dim),
                wk: try matrix(p + "attn_k.weight", c.kvDim, c.dim),
                wv: try matrix(p + "attn_v.weight", c.kvDim, c.dim),
                wo: try matrix(p + "attn_output.weight", c.dim, c.qDim),
                ffnNorm: try vector(p + "ffn_norm.weight", c.dim),
                wGate: try matrix(p + "ffn_gate.weight", c.ffnDim, c.dim),
                wUp: try matrix(p + "ffn_up.weight", c.ffnDim, c.dim),
                wDown: try matrix(p + "ffn_down.weight", c.dim, c.ffnDim)))
        }
        self.layers = layers
        finalNorm = try vector("output_norm.weight", c.dim)
        output = c.tiedEmbeddings ? tokenEmbedding : try matrix("output.weight", c.vocabSize, c.dim)
    }

    /// Maps and validates `path`, then builds the model.
    public static func load(path: String, verifyChecksums: Bool = true) throws(RuntimeError) -> RuntimeModel {
        let file = try rtm { () throws(RTMError) in try RTMFile.open(path: path, verifyTensorChecksums: verifyChecksums) }
        return try RuntimeModel(file: file)
    }
}
