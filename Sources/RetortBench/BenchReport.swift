import Foundation

/// What `retort bench` measures and how.
public struct BenchSettings: Codable, Sendable, Equatable {
    public var models: [String]
    /// Evaluation text (perplexity, KL, agreement; its first tokens form the prompt); nil: speed only.
    public var text: String?
    /// The model others are compared with (KL, top-1 agreement); the first model by default.
    public var reference: String
    public var threads: [Int]
    public var promptTokens: Int
    public var genTokens: Int
    /// Repetitions of every speed measurement, each in its own process.
    public var reps: Int
    /// Perplexity, KL and agreement use the first `qualityTokens` tokens of the text.
    public var qualityTokens: Int
    public var context: Int
    /// Perplexity protocol (`sliding` or `llama.cpp`, docs/EVALUATION.md).
    public var method: String
    /// Measure cold loads (page cache dropped with posix_fadvise) besides warm ones.
    public var cold: Bool

    public init(models: [String], text: String?, reference: String? = nil, threads: [Int] = [1, 2], promptTokens: Int = 512,
                genTokens: Int = 128, reps: Int = 3, qualityTokens: Int = 8192, context: Int = 512,
                method: String = "llama.cpp", cold: Bool = true) {
        self.models = models
        self.text = text
        self.reference = reference ?? models.first ?? ""
        self.threads = threads
        self.promptTokens = promptTokens
        self.genTokens = genTokens
        self.reps = reps
        self.qualityTokens = qualityTokens
        self.context = context
        self.method = method
        self.cold = cold
    }
}

/// Everything one `retort bench` run measured: results.json.
public struct BenchReport: Codable, Sendable {
    public var tool: String
    public var machine: MachineInfo
    public var settings: BenchSettings
    /// How each number was measured, in words (also printed under the table).
    public var notes: [String]
    public var models: [ModelResult]

    public init(machine: MachineInfo, settings: BenchSettings, notes: [String], models: [ModelResult]) {
        tool = "retort bench"
        self.machine = machine
        self.settings = settings
        self.notes = notes
        self.models = models
    }

    /// Reads a results.json written by `json()`.
    public static func read(_ path: String) throws -> BenchReport {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BenchError(file: path, field: "results", message: "cannot read")
        }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            return try decoder.decode(BenchReport.self, from: data)
        } catch {
            throw BenchError(file: path, field: "results", message: "not a retort bench results.json: \(error)")
        }
    }

    /// Pretty-printed JSON with sorted keys (non-finite numbers as strings "inf", "nan").
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(self)
    }
}

public struct ModelResult: Codable, Sendable {
    public var model: ModelDescription
    public var isReference: Bool
    /// Perplexity, KL and agreement (nil without a text).
    public var quality: QualitySample?
    /// One entry per thread count.
    public var threads: [ThreadResult]
    /// llama.cpp on this model's GGUF form (nil without the peer).
    public var peer: PeerResult?
}

/// Speed and memory of one model at one thread count: median and spread over repetitions.
public struct ThreadResult: Codable, Sendable {
    public var threads: Int
    public var kernels: String
    public var warmLoadMilliseconds: Spread
    public var coldLoadMilliseconds: Spread?
    public var residentBeforeColdLoad: Spread?
    public var peakRSSBytes: Spread
    public var anonRSSBytes: Spread
    public var baselineRSSBytes: Spread
    public var prefillTokensPerSecond: Spread
    public var decodeTokensPerSecond: Spread
    /// Per-token decode latency over every step of every repetition.
    public var decodeP50Milliseconds: Double
    public var decodeP95Milliseconds: Double
    public var kvCacheBytes: Int
    public var peer: PeerThreadResult?
}

public struct PeerResult: Codable, Sendable {
    public var file: PeerModelFile?
    public var quality: PeerQualitySample?
    public var error: String?
}

public struct PeerThreadResult: Codable, Sendable {
    public var prefillTokensPerSecond: Spread?
    public var decodeTokensPerSecond: Spread?
    /// Peak RSS of the llama-bench process (ru_maxrss).
    public var peakRSSBytes: Spread?
    /// Retort ÷ llama.cpp, medians: above 1 Retort is faster.
    public var prefillRatio: Double?
    public var decodeRatio: Double?
    public var error: String?
}
