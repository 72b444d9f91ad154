import RetortModel
import RetortRuntime

/// Compares a quantized file, run by RetortRuntime (the kernels a device runs), with the FP32
/// reference model on the host, over the windows of `options`.
public func evaluateOnRuntime(reference: LlamaModel, candidate: RuntimeModel, tokens: [Int32], bos: Int32?,
                              options: PerplexityOptions, pool: ThreadPool, source: String,
                              progress: ((Int, Int) -> Void)? = nil) throws -> ComparisonResult {
    let hostSession = LlamaSession(model: reference, capacity: options.context)
    let runtimeSession = RuntimeSession(model: candidate, capacity: options.context, maxBatch: options.context,
                                        allLogits: true, pool: pool)
    return try withExtendedLifetime((hostSession, runtimeSession)) {
        try evaluateComparison(vocabularySize: reference.config.vocabSize, tokens: tokens, bos: bos, options: options,
                               source: source, progress: progress,
                               reference: { window in
                                   hostSession.reset()
                                   return try hostSession.forward(window, logits: .all)
                               },
                               candidate: { window in
                                   runtimeSession.reset()
                                   return try runtimeSession.forward(window, logits: .all)
                               })
    }
}

/// Reference logits of a short text, computed once so that many candidates (sensitivity runs)
/// can be compared against them without re-running the reference.
public final class CachedReference {
    let tokens: [Int32]
    let bos: Int32?
    let options: PerplexityOptions
    let vocabularySize: Int
    var logits: [FloatBuffer] = []

    public init(model: LlamaModel, tokens: [Int32], bos: Int32?, options: PerplexityOptions) throws {
        self.tokens = tokens
        self.bos = bos
        self.options = options
        vocabularySize = model.config.vocabSize
        let session = LlamaSession(model: model, capacity: options.context)
        var stored: [FloatBuffer] = []
        _ = try evaluatePerplexity(vocabularySize: vocabularySize, tokens: tokens, bos: bos, options: options) { window in
            session.reset()
            let l = try session.forward(window, logits: .all)
            let copy = FloatBuffer(count: l.count)
            copy.pointer.update(from: l.baseAddress!, count: l.count)
            stored.append(copy)
            return l
        }
        logits = stored
    }

    /// The comparison of `candidate` (run by the runtime) with the cached reference.
    public func compare(_ candidate: RuntimeModel, pool: ThreadPool) throws -> ComparisonResult {
        let session = RuntimeSession(model: candidate, capacity: options.context, maxBatch: options.context,
                                     allLogits: true, pool: pool)
        var next = 0
        return try withExtendedLifetime(session) {
            try evaluateComparison(vocabularySize: vocabularySize, tokens: tokens, bos: bos, options: options,
                                   reference: { [logits] _ in
                                       defer { next += 1 }
                                       return UnsafeBufferPointer(logits[next].buffer)
                                   },
                                   candidate: { window in
                                       session.reset()
                                       return try session.forward(window, logits: .all)
                                   })
        }
    }
}

/// Loads a writer's file image into the runtime without touching the disk.
public func runtimeModel(_ writer: RTMWriter, name: String) throws -> RuntimeModel {
    let file = try RTMFile(bytes: writer.serialize(), name: name, verifyTensorChecksums: false)
    return try RuntimeModel(file: file)
}
