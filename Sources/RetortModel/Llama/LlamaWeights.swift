import RetortImport

/// FP32 parameters of a Llama-family model. Matrices are row-major `[out, in]` (the GGUF layout:
/// `dims = [in, out]`, innermost first), so `y = x · Wᵀ` is one sgemm with `B` transposed.
public final class LlamaLayerWeights: @unchecked Sendable {
    public let attnNorm: FloatBuffer   // (D)
    public let wq: FloatBuffer         // (H·E, D)
    public let wk: FloatBuffer         // (G·E, D)
    public let wv: FloatBuffer         // (G·E, D)
    public let wo: FloatBuffer         // (D, H·E)
    public let ffnNorm: FloatBuffer    // (D)
    public let wGate: FloatBuffer      // (F, D)
    public let wUp: FloatBuffer        // (F, D)
    public let wDown: FloatBuffer      // (D, F)

    public init(config c: LlamaConfig) {
        attnNorm = FloatBuffer(count: c.dim)
        wq = FloatBuffer(count: c.qDim * c.dim)
        wk = FloatBuffer(count: c.kvDim * c.dim)
        wv = FloatBuffer(count: c.kvDim * c.dim)
        wo = FloatBuffer(count: c.dim * c.qDim)
        ffnNorm = FloatBuffer(count: c.dim)
        wGate = FloatBuffer(count: c.ffnDim * c.dim)
        wUp = FloatBuffer(count: c.ffnDim * c.dim)
        wDown = FloatBuffer(count: c.dim * c.ffnDim)
    }
}

public final class LlamaWeights: @unchecked Sendable {
    public let tokenEmbedding: FloatBuffer   // (V, D)
    public let layers: [LlamaLayerWeights]
    public let finalNorm: FloatBuffer        // (D)
    /// Output head (V, D); the token embedding itself when tied.
    public let output: FloatBuffer

    public init(config c: LlamaConfig) {
        tokenEmbedding = FloatBuffer(count: c.vocabSize * c.dim)
        layers = (0..<c.layerCount).map { _ in LlamaLayerWeights(config: c) }
        finalNorm = FloatBuffer(count: c.dim)
        output = c.tiedEmbeddings ? tokenEmbedding : FloatBuffer(count: c.vocabSize * c.dim)
    }

    /// Wraps existing buffers without copying (e.g. a teacher with one block left out, sharing the
    /// teacher's memory). Pass the embedding again as `output` for a tied head.
    public init(tokenEmbedding: FloatBuffer, layers: [LlamaLayerWeights], finalNorm: FloatBuffer, output: FloatBuffer) {
        self.tokenEmbedding = tokenEmbedding
        self.layers = layers
        self.finalNorm = finalNorm
        self.output = output
    }
}

/// The one table mapping on-disk (GGUF) tensor names to parameters, with their shapes
/// innermost-first as GGUF stores them.
public struct LlamaTensorName: Sendable, Equatable {
    public let name: String
    public let dims: [Int]
    public let buffer: FloatBuffer

    public static func == (a: LlamaTensorName, b: LlamaTensorName) -> Bool { a.name == b.name && a.dims == b.dims }

    public static func table(config c: LlamaConfig, weights w: LlamaWeights) -> [LlamaTensorName] {
        var t: [LlamaTensorName] = [
            .init(name: "token_embd.weight", dims: [c.dim, c.vocabSize], buffer: w.tokenEmbedding),
        ]
        for (i, l) in w.layers.enumerated() {
            let p = "blk.\(i)."
            t += [
                .init(name: p + "attn_norm.weight", dims: [c.dim], buffer: l.attnNorm),
                .init(name: p + "attn_q.weight", dims: [c.dim, c.qDim], buffer: l.wq),
                .init(name: p + "attn_k.weight", dims: [c.dim, c.kvDim], buffer: l.wk),
                .init(name: p + "attn_v.weight", dims: [c.dim, c.kvDim], buffer: l.wv),
                .init(name: p + "attn_output.weight", dims: [c.qDim, c.dim], buffer: l.wo),
                .init(name: p + "ffn_norm.weight", dims: [c.dim], buffer: l.ffnNorm),
                .init(name: p + "ffn_gate.weight", dims: [c.dim, c.ffnDim], buffer: l.wGate),
                .init(name: p + "ffn_up.weight", dims: [c.dim, c.ffnDim], buffer: l.wUp),
                .init(name: p + "ffn_down.weight", dims: [c.ffnDim, c.dim], buffer: l.wDown),
            ]
        }
        t.append(.init(name: "output_norm.weight", dims: [c.dim], buffer: w.finalNorm))
        if !c.tiedEmbeddings {
            t.append(.init(name: "output.weight", dims: [c.dim, c.vocabSize], buffer: w.output))
        }
        return t
    }
}
