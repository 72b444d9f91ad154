import RetortModel
import RetortRuntime

/// Small synthetic models for unit tests, built from a seed.
public enum TinyModels {
    /// V=48, D=16, L=2, H=4, G=2, E=4, F=24: exercises GQA, RoPE and tied output.
    public static let config = LlamaConfig(vocabSize: 48, dim: 16, layerCount: 2, headCount: 4, kvHeadCount: 2,
                                           ffnDim: 24, ropeBase: 10_000, normEpsilon: 1e-5, contextLength: 64,
                                           tiedEmbeddings: true)

    /// A model whose parameters are uniform in ±scale (norm weights around 1).
    public static func random(_ config: LlamaConfig = config, seed: UInt64 = 1, scale: Float = 0.5) -> LlamaModel {
        let model = LlamaModel(config: config)
        var rng = SeededGenerator(seed: seed)
        for entry in model.tensorTable {
            let isNorm = entry.name.hasSuffix("norm.weight")
            for i in 0..<entry.buffer.count {
                let u = rng.nextUnitFloat() * 2 - 1
                entry.buffer[i] = isNorm ? 1 + 0.2 * u : scale * u
            }
        }
        return model
    }
}

/// Named tolerances shared by numeric tests.
public enum Tolerance {
    /// FP32 kernels vs a plain-loop reference of the same math (different summation order).
    public static let fp32Kernel: Float = 2e-4
    /// Relative agreement of two FP32 paths through a whole model.
    public static let fp32Model: Float = 1e-3
    /// Int8 weights with two-digit (≈15-bit) activations vs f32 activations on the same dequantized
    /// weights, relative to the largest logit: the residual digit leaves ≤ 1/(2·127·254) of each
    /// row's absmax per activation, through two layers.
    public static let twoDigitActivations: Float = 2e-3
}

/// Compares two arrays; returns a description of the worst mismatches (empty if all within tol).
public func mismatches(_ actual: [Float], _ expected: [Float], tolerance: Float, relativeTo scale: Float = 1,
                       limit: Int = 5) -> String {
    guard actual.count == expected.count else { return "count \(actual.count) != expected \(expected.count)" }
    var bad: [(Int, Float, Float)] = []
    for i in 0..<actual.count {
        let a = actual[i], e = expected[i]
        if !(abs(a - e) <= tolerance * max(scale, abs(e))) { bad.append((i, a, e)) }
    }
    if bad.isEmpty { return "" }
    let worst = bad.sorted { abs($0.1 - $0.2) > abs($1.1 - $1.2) }.prefix(limit)
    return "\(bad.count)/\(actual.count) outside tolerance \(tolerance); worst: "
        + worst.map { "[\($0.0)] got \($0.1) expected \($0.2)" }.joined(separator: ", ")
}

/// Logits `(T, V)` of one batched pass over `tokens` from a fresh session (copied out while the
/// session is alive: `LlamaSession.forward` returns a view of the session's buffer).
public func batchedLogits(_ model: LlamaModel, _ tokens: [Int32], capacity: Int? = nil,
                          which: LlamaSession.Logits = .all) throws -> [Float] {
    let session = LlamaSession(model: model, capacity: capacity ?? max(tokens.count, 1))
    return try withExtendedLifetime(session) { Array(try session.forward(tokens, logits: which)) }
}

extension TinyModels {
    /// A shape whose matrix widths are multiples of 32, so runtime fast paths run: V=48, D=64,
    /// L=2, H=4, G=2, E=16, F=96.
    public static let runtimeConfig = LlamaConfig(vocabSize: 48, dim: 64, layerCount: 2, headCount: 4, kvHeadCount: 2,
                                                  ffnDim: 96, ropeBase: 10_000, normEpsilon: 1e-5, contextLength: 64,
                                                  tiedEmbeddings: true)

    /// A byte-level vocabulary of `size` printable ASCII characters (from "!"), no merges.
    public static func tokenizer(size: Int = 48) -> TokenizerDefinition {
        TokenizerDefinition(preTokenizerName: "gpt2", tokens: (0..<size).map { [UInt8(0x21 + $0)] },
                            tokenTypes: [Int32](repeating: 1, count: size), merges: [],
                            bosID: 0, eosID: 1, unknownID: nil, paddingID: nil, addBOS: false, addEOS: false)
    }
}
