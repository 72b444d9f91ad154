import Foundation
import RetortModel
import RetortRuntime

/// One speed measurement of one model at one thread count, meant to run in a fresh process so
/// that its peak RSS belongs to this model alone.
public struct SpeedRequest: Codable, Sendable, Equatable {
    public var model: String
    public var threads: Int
    public var promptTokens: Int      // P: prefill test, one batch (llama-bench -p)
    public var genTokens: Int         // N: decode test, single-token steps (llama-bench -n)
    /// Text whose first P tokens form the prompt; nil: a fixed token pattern.
    public var promptText: String?
    /// Drop the file's page cache before a first (cold) load; a second (warm) load follows.
    public var cold: Bool

    public init(model: String, threads: Int, promptTokens: Int, genTokens: Int, promptText: String?, cold: Bool) {
        self.model = model
        self.threads = threads
        self.promptTokens = promptTokens
        self.genTokens = genTokens
        self.promptText = promptText
        self.cold = cold
    }
}

public struct SpeedSample: Codable, Sendable, Equatable {
    public var kernels: String
    /// Load to ready (file opened, weights usable, tokenizer built, session allocated), ms.
    public var warmLoadMilliseconds: Double
    public var coldLoadMilliseconds: Double?
    /// Fraction of the file's pages still cached just before the cold load (0 = fully cold).
    public var residentBeforeColdLoad: Double?
    public var prefillTokensPerSecond: Double
    public var decodeTokensPerSecond: Double
    /// Wall time of every decode step, ms.
    public var decodeStepMilliseconds: [Double]
    /// RSS before anything was loaded (runtime libraries), and after the tests.
    public var baselineRSSBytes: Int
    public var memory: ProcessMemory
    public var kvCacheBytes: Int
}

/// Quality of one model on a text: perplexity, and KL / top-1 agreement against a reference.
public struct QualityRequest: Codable, Sendable, Equatable {
    public var model: String
    /// The reference (teacher); nil or equal to `model`: perplexity only.
    public var reference: String?
    public var text: String
    public var maxTokens: Int
    public var context: Int
    public var method: String         // PerplexityProtocol raw value
    public var threads: Int

    public init(model: String, reference: String?, text: String, maxTokens: Int, context: Int, method: String, threads: Int) {
        self.model = model
        self.reference = reference
        self.text = text
        self.maxTokens = maxTokens
        self.context = context
        self.method = method
        self.threads = threads
    }
}

public struct QualitySample: Codable, Sendable, Equatable {
    public var perplexity: Double
    public var meanNLL: Double
    public var nllStandardError: Double
    public var textTokens: Int
    public var scoredTokens: Int
    public var windows: Int
    /// Mean KL(p_reference ‖ p_model) per scored token, nats; 0 for the reference itself.
    public var meanKL: Double?
    /// Fraction of scored tokens whose arg-max next token equals the reference's.
    public var top1Agreement: Double?
    /// Why KL and agreement are missing, when they are.
    public var comparisonNote: String?
    /// Seconds spent in this model's forward passes, and its evaluation throughput.
    public var seconds: Double
    public var tokensPerSecond: Double
}

/// One llama-bench round, run from a worker process: a small process spawning the peer keeps the
/// peer's `ru_maxrss` its own (a child's peak RSS counts the memory of the process it was spawned
/// from, before exec).
public struct PeerSpeedRequest: Codable, Sendable, Equatable {
    public var peer: LlamaCppPeer
    public var gguf: String
    public var promptTokens: Int
    public var genTokens: Int
    public var threads: Int
}

/// Writes the GGUF form of a model for the peer (in a worker, so the harness stays small).
public struct ExportRequest: Codable, Sendable, Equatable {
    public var model: ModelDescription
    public var directory: String
}

public enum WorkerRequest: Codable, Sendable, Equatable {
    case speed(SpeedRequest)
    case quality(QualityRequest)
    case peerSpeed(PeerSpeedRequest)
    case export(ExportRequest)
}

public enum WorkerResponse: Codable, Sendable, Equatable {
    case speed(SpeedSample)
    case quality(QualitySample)
    case peerSpeed(PeerSpeedSample)
    case export(PeerModelFile)
}

/// Runs one worker request and returns its result: in this process (`BenchWorker.run`) or in a
/// child process (`SubprocessWorker`).
public typealias WorkerRunner = (WorkerRequest) throws -> WorkerResponse

public enum BenchWorker {
    public static func run(_ request: WorkerRequest) throws -> WorkerResponse {
        switch request {
        case .speed(let r): .speed(try speed(r))
        case .quality(let r): .quality(try quality(r))
        case .peerSpeed(let r):
            .peerSpeed(try r.peer.speed(gguf: r.gguf, promptTokens: r.promptTokens, genTokens: r.genTokens, threads: r.threads))
        case .export(let r): .export(try LlamaCppPeer.ggufForm(of: r.model, in: r.directory))
        }
    }

    /// Cold load (if asked), warm load, one warm-up, then the prefill test and the decode test.
    public static func speed(_ r: SpeedRequest) throws -> SpeedSample {
        let baseline = ProcessMemory.current().rss
        let capacity = r.promptTokens + r.genTokens
        func load() throws -> (LoadedBenchModel, BenchSession, Double) {
            let start = ContinuousClock.now
            let model = try LoadedBenchModel(path: r.model)
            let session = model.makeSession(capacity: capacity, maxBatch: r.promptTokens, allLogits: false, threads: r.threads)
            return (model, session, (ContinuousClock.now - start).seconds * 1000)
        }
        var cold: Double?, resident: Double?
        if r.cold {
            PageCache.drop(r.model)
            resident = PageCache.residentFraction(r.model)
            cold = try load().2   // released before the warm load
        }
        let (model, session, warm) = try load()
        var prompt: [Int32] = []
        if let text = r.promptText {
            guard let data = FileManager.default.contents(atPath: text) else {
                throw BenchError(file: text, field: "text", message: "cannot read")
            }
            prompt = Array(model.tokenizer.encode([UInt8](data), addSpecial: false).prefix(r.promptTokens))
        }
        let v = model.vocabularySize
        while prompt.count < r.promptTokens { prompt.append(Int32((prompt.count * 7919 + 13) % v)) }

        // Warm-up: scratch buffers and KV cache touched once, as llama-bench does.
        _ = try session.forward(prompt)
        session.reset()
        _ = try session.forward([prompt[0]])
        session.reset()

        let a = ContinuousClock.now
        _ = try session.forward(prompt)
        let prefill = Double(r.promptTokens) / (ContinuousClock.now - a).seconds
        // Decode test: N single-token steps from an empty cache (llama-bench's tg), greedy.
        session.reset()
        var token = prompt[0]
        var steps: [Double] = []
        steps.reserveCapacity(r.genTokens)
        let b = ContinuousClock.now
        for _ in 0..<r.genTokens {
            let s = ContinuousClock.now
            token = Sampler.argmax(try session.forward([token]))
            steps.append((ContinuousClock.now - s).seconds * 1000)
        }
        let decode = Double(r.genTokens) / (ContinuousClock.now - b).seconds
        let memory = ProcessMemory.current()
        let kernels = { if case .runtime = model.engine { "\(Kernels.active)" } else { "OpenBLAS sgemm" } }()
        return withExtendedLifetime(session) {
            SpeedSample(kernels: kernels, warmLoadMilliseconds: warm, coldLoadMilliseconds: cold,
                        residentBeforeColdLoad: resident, prefillTokensPerSecond: prefill,
                        decodeTokensPerSecond: decode, decodeStepMilliseconds: steps, baselineRSSBytes: baseline,
                        memory: memory, kvCacheBytes: 2 * model.layerCount * model.kvDim * capacity * 4)
        }
    }

    /// Perplexity of `model` on the text; with a different reference, KL and top-1 agreement too
    /// (both models over the same windows, `evaluateComparison`).
    public static func quality(_ r: QualityRequest) throws -> QualitySample {
        guard let data = FileManager.default.contents(atPath: r.text) else {
            throw BenchError(file: r.text, field: "text", message: "cannot read")
        }
        let bytes = [UInt8](data)
        guard let method = PerplexityProtocol(rawValue: r.method) else {
            throw BenchError(file: r.text, field: "protocol", message: "unknown protocol '\(r.method)'")
        }
        let options = PerplexityOptions(context: r.context, maxTokens: r.maxTokens, method: method)
        HostThreads.set(r.threads)
        let model = try LoadedBenchModel(path: r.model)
        let tokens = Array(model.tokenizer.encode(bytes, addSpecial: false).prefix(r.maxTokens))
        let session = model.makeSession(capacity: r.context, maxBatch: r.context, allLogits: true, threads: r.threads)
        let forward: ([Int32]) throws -> UnsafeBufferPointer<Float> = { window in
            session.reset()
            return try session.forward(window)
        }
        func sample(_ p: PerplexityResult, kl: Double?, top1: Double?, note: String?) -> QualitySample {
            QualitySample(perplexity: p.perplexity, meanNLL: p.meanNLL, nllStandardError: p.nllStandardError,
                          textTokens: p.textTokens, scoredTokens: p.scoredTokens, windows: p.windows,
                          meanKL: kl, top1Agreement: top1, comparisonNote: note, seconds: p.seconds,
                          tokensPerSecond: p.tokensPerSecond)
        }
        guard let referencePath = r.reference, referencePath != r.model else {
            let p = try evaluatePerplexity(vocabularySize: model.vocabularySize, tokens: tokens, bos: model.bos,
                                           options: options, source: r.text, forward: forward)
            return sample(p, kl: 0, top1: 1, note: "reference")
        }
        let reference = try LoadedBenchModel(path: referencePath)
        var mismatch: String?
        if reference.vocabularySize != model.vocabularySize {
            mismatch = "vocabulary \(model.vocabularySize) differs from the reference's \(reference.vocabularySize)"
        } else if Array(reference.tokenizer.encode(bytes, addSpecial: false).prefix(r.maxTokens)) != tokens
                    || reference.bos != model.bos {
            mismatch = "tokenizer differs from the reference's on this text"
        }
        if let mismatch {
            let p = try evaluatePerplexity(vocabularySize: model.vocabularySize, tokens: tokens, bos: model.bos,
                                           options: options, source: r.text, forward: forward)
            return sample(p, kl: nil, top1: nil, note: mismatch)
        }
        let referenceSession = reference.makeSession(capacity: r.context, maxBatch: r.context, allLogits: true, threads: r.threads)
        let c = try evaluateComparison(vocabularySize: model.vocabularySize, tokens: tokens, bos: model.bos,
                                       options: options, source: r.text,
                                       reference: { window in
                                           referenceSession.reset()
                                           return try referenceSession.forward(window)
                                       }, candidate: forward)
        return sample(c.candidate, kl: c.meanKL, top1: c.top1Agreement, note: nil)
    }
}
