import Foundation
import RetortImport
import RetortModel
import RetortRuntime

/// Which engine runs a model file.
public enum BenchEngine: String, Codable, Sendable {
    /// GGUF through the host FP32 model (RetortModel, OpenBLAS): weights dequantized at load.
    case hostFP32 = "host FP32"
    /// .rtm through RetortRuntime: mmap, weights used in place.
    case runtime = "RetortRuntime"

    public init(path: String) { self = path.hasSuffix(".rtm") ? .runtime : .hostFP32 }
}

/// What a model file is, read from its header (no weights loaded).
public struct ModelDescription: Codable, Sendable, Equatable {
    public var path: String
    public var name: String              // file name, the label in tables and plots
    public var engine: BenchEngine
    /// Storage type of the matrices: a GGML type name for GGUF (q4_1, q8_0, f32 …), an RTM dtype
    /// name for .rtm (f32, f16, int8PerChannel, int8PerGroup).
    public var weights: String
    public var parameters: Int
    public var fileBytes: Int
    /// File bytes per parameter: the whole file (tokenizer, metadata, scales included).
    public var bytesPerParameter: Double

    public init(path: String, name: String, engine: BenchEngine, weights: String, parameters: Int, fileBytes: Int) {
        self.path = path
        self.name = name
        self.engine = engine
        self.weights = weights
        self.parameters = parameters
        self.fileBytes = fileBytes
        bytesPerParameter = parameters > 0 ? Double(fileBytes) / Double(parameters) : 0
    }

    /// Reads and validates the header and tensor table of `path` (GGUF or .rtm).
    public static func inspect(_ path: String) throws -> ModelDescription {
        let name = URL(fileURLWithPath: path).lastPathComponent
        if path.hasSuffix(".rtm") {
            let file = try RTMFile.open(path: path, verifyTensorChecksums: false)
            let config = try LlamaConfig(rtm: file)
            let weights = file.tensor(named: "blk.0.attn_q.weight")?.dtype.name ?? "?"
            return ModelDescription(path: path, name: name, engine: .runtime, weights: weights,
                                    parameters: config.parameterCount, fileBytes: file.fileSize)
        }
        let file = try GGUFFile.open(path: path)
        let config = try LlamaConfig(gguf: file)
        let weights = file.tensors.first { $0.name == "blk.0.attn_q.weight" }?.type.name ?? "?"
        return ModelDescription(path: path, name: name, engine: .hostFP32, weights: weights,
                                parameters: config.parameterCount, fileBytes: file.fileSize)
    }
}

/// A model loaded for measurement, with its tokenizer, behind one interface for both engines.
final class LoadedBenchModel {
    enum Engine {
        case host(LlamaModel)
        case runtime(RuntimeModel)
    }
    let path: String
    let engine: Engine
    let tokenizer: BPETokenizer
    let vocabularySize: Int
    let layerCount: Int
    let kvDim: Int

    /// Loads `path`: GGUF into the host FP32 model (threads via `HostThreads`), .rtm into
    /// RetortRuntime.
    init(path: String) throws {
        self.path = path
        if path.hasSuffix(".rtm") {
            let model = try RuntimeModel.load(path: path)
            engine = .runtime(model)
            tokenizer = model.tokenizer
            vocabularySize = model.config.vocabSize
            layerCount = model.config.layerCount
            kvDim = model.config.kvDim
        } else {
            let file = try GGUFFile.open(path: path)
            let tokenizer = try BPETokenizer.load(gguf: file)
            let model = try LlamaModel.load(gguf: file)
            guard tokenizer.vocabularySize == model.config.vocabSize else {
                throw ModelError(file: path, field: "tokenizer.ggml.tokens",
                                 message: "\(tokenizer.vocabularySize) tokens but the model has vocabulary \(model.config.vocabSize)")
            }
            engine = .host(model)
            self.tokenizer = tokenizer
            vocabularySize = model.config.vocabSize
            layerCount = model.config.layerCount
            kvDim = model.config.kvDim
        }
    }

    /// A session with room for `capacity` positions and batches of up to `maxBatch` tokens; with
    /// `allLogits` it returns logits for every row of a batch (evaluation), else only the last.
    func makeSession(capacity: Int, maxBatch: Int, allLogits: Bool, threads: Int) -> BenchSession {
        switch engine {
        case .host(let model):
            HostThreads.set(threads)
            return BenchSession(host: LlamaSession(model: model, capacity: capacity, maxBatch: maxBatch), allLogits: allLogits)
        case .runtime(let model):
            let pool = ThreadPool(threads: threads)
            return BenchSession(runtime: RuntimeSession(model: model, capacity: capacity, maxBatch: maxBatch,
                                                        allLogits: allLogits, pool: pool), allLogits: allLogits)
        }
    }

    var bos: Int32? { tokenizer.addBOS ? tokenizer.bosID : nil }
}

/// A KV-cache session of either engine.
final class BenchSession {
    private let host: LlamaSession?
    private let runtime: RuntimeSession?
    let allLogits: Bool

    init(host: LlamaSession, allLogits: Bool) {
        self.host = host
        runtime = nil
        self.allLogits = allLogits
    }

    init(runtime: RuntimeSession, allLogits: Bool) {
        host = nil
        self.runtime = runtime
        self.allLogits = allLogits
    }

    func reset() {
        host?.reset()
        runtime?.reset()
    }

    /// Appends `tokens` at the current position; returns the last row of logits, or every row
    /// when the session was made with `allLogits` (a view valid until the next call).
    func forward(_ tokens: [Int32]) throws -> UnsafeBufferPointer<Float> {
        if let host { return try host.forward(tokens, logits: allLogits ? .all : .last) }
        return try runtime!.forward(tokens, logits: allLogits ? .all : .last)
    }
}
