/// Shape of a Llama-family model as the runtime reads it from an .rtm file.
/// Dimension names: T tokens in a batch, C cache positions, D width, V vocabulary, H query heads,
/// G key/value heads, E head width, F MLP width.
public struct RuntimeConfig: Sendable, Equatable {
    public var vocabSize: Int        // V
    public var dim: Int              // D
    public var layerCount: Int       // L
    public var headCount: Int        // H
    public var kvHeadCount: Int      // G
    public var headDim: Int          // E
    public var ffnDim: Int           // F
    public var ropeBase: Float
    public var normEpsilon: Float
    public var contextLength: Int
    public var tiedEmbeddings: Bool

    public var qDim: Int { headCount * headDim }
    public var kvDim: Int { kvHeadCount * headDim }

    public init(file: RTMFile) throws(RuntimeError) {
        let arch = try rtm { () throws(RTMError) in try file.string("model.architecture") }
        guard arch == "llama" else {
            throw RuntimeError(file: file.path, field: "model.architecture",
                               message: "unsupported architecture '" + arch + "' (supported: llama)")
        }
        vocabSize = try rtm { () throws(RTMError) in try file.int("llama.vocab_size") }
        dim = try rtm { () throws(RTMError) in try file.int("llama.embedding_length") }
        layerCount = try rtm { () throws(RTMError) in try file.int("llama.block_count") }
        headCount = try rtm { () throws(RTMError) in try file.int("llama.attention.head_count") }
        kvHeadCount = try rtm { () throws(RTMError) in try file.int("llama.attention.head_count_kv") }
        headDim = try rtm { () throws(RTMError) in try file.int("llama.attention.key_length") }
        ffnDim = try rtm { () throws(RTMError) in try file.int("llama.feed_forward_length") }
        ropeBase = try rtm { () throws(RTMError) in try file.float("llama.rope.freq_base") }
        normEpsilon = try rtm { () throws(RTMError) in try file.float("llama.attention.layer_norm_rms_epsilon") }
        contextLength = try rtm { () throws(RTMError) in try file.int("llama.context_length") }
        tiedEmbeddings = try rtm { () throws(RTMError) in try file.bool("llama.tied_embeddings") }
        func check(_ ok: Bool, _ field: String, _ message: String) throws(RuntimeError) {
            if !ok { throw RuntimeError(file: file.path, field: field, message: message) }
        }
        try check(vocabSize > 0 && vocabSize <= 1 << 24, "llama.vocab_size", "out of range 1...16777216")
        try check(dim > 0 && dim <= 1 << 16, "llama.embedding_length", "out of range 1...65536")
        try check(layerCount > 0 && layerCount <= 1024, "llama.block_count", "out of range 1...1024")
        try check(headCount > 0 && headCount <= 1024, "llama.attention.head_count", "out of range 1...1024")
        try check(kvHeadCount > 0 && headCount % kvHeadCount == 0, "llama.attention.head_count_kv", "must divide head_count")
        try check(headDim > 0 && headDim % 2 == 0 && headDim <= 1024, "llama.attention.key_length", "must be even and at most 1024")
        try check(ffnDim > 0 && ffnDim <= 1 << 18, "llama.feed_forward_length", "out of range 1...262144")
        try check(ropeBase > 0 && ropeBase.isFinite, "llama.rope.freq_base", "must be positive")
        try check(normEpsilon > 0 && normEpsilon < 1, "llama.attention.layer_norm_rms_epsilon", "out of range (0, 1)")
        try check(contextLength > 0 && contextLength <= 1 << 20, "llama.context_length", "out of range 1...1048576")
    }
}

/// Runs a format-level read, converting its error into a `RuntimeError` (typed throws, no existentials).
@inline(__always)
func rtm<T>(_ body: () throws(RTMError) -> T) throws(RuntimeError) -> T {
    do {
        return try body()
    } catch {
        throw RuntimeError(error)
    }
}
