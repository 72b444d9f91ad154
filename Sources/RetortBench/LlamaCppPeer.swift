import Foundation
import RetortImport
import RetortModel
import RetortRuntime

/// llama.cpp as the peer: `llama-bench` (prefill and decode tokens/s) and `llama-perplexity` on
/// the GGUF form of each model, run in the same rounds as Retort's own measurements.
public struct LlamaCppPeer: Codable, Sendable, Equatable {
    public var benchPath: String
    public var perplexityPath: String

    /// The peer in `directory` (llama.cpp's `bin`), or nil when either tool is missing.
    public init?(directory: String) {
        benchPath = directory + "/llama-bench"
        perplexityPath = directory + "/llama-perplexity"
        guard FileManager.default.isExecutableFile(atPath: benchPath),
              FileManager.default.isExecutableFile(atPath: perplexityPath) else { return nil }
    }

    /// One round of `llama-bench -p P -n N -t T -r 1`.
    public func speed(gguf: String, promptTokens: Int, genTokens: Int, threads: Int) throws -> PeerSpeedSample {
        let outcome = try runProcess(benchPath, ["-m", gguf, "-p", "\(promptTokens)", "-n", "\(genTokens)",
                                                 "-t", "\(threads)", "-r", "1", "-o", "json"])
        guard outcome.status == 0 else {
            throw BenchError(file: gguf, field: "llama-bench", message: "exit status \(outcome.status): "
                             + outcome.stderr.split(separator: "\n").suffix(3).joined(separator: " | "))
        }
        var sample = try Self.parseBench(json: outcome.stdout, source: gguf)
        sample.peakRSSBytes = outcome.peakRSSBytes
        return sample
    }

    /// `llama-perplexity -c context --chunks chunks` on `text` (its protocol: second half of each
    /// chunk scored).
    public func perplexity(gguf: String, text: String, context: Int, chunks: Int, threads: Int) throws -> PeerQualitySample {
        let outcome = try runProcess(perplexityPath, ["-m", gguf, "-f", text, "-c", "\(context)", "--chunks", "\(chunks)",
                                                      "-t", "\(threads)"])
        let log = outcome.stdout + outcome.stderr
        guard outcome.status == 0, var sample = Self.parsePerplexity(log: log) else {
            throw BenchError(file: gguf, field: "llama-perplexity", message: "exit status \(outcome.status): "
                             + log.split(separator: "\n").suffix(3).joined(separator: " | "))
        }
        sample.chunks = chunks
        return sample
    }

    /// Reads llama-bench's `-o json` array: the pp row (n_gen 0) and the tg row (n_prompt 0).
    static func parseBench(json: String, source: String) throws -> PeerSpeedSample {
        guard let rows = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] else {
            throw BenchError(file: source, field: "llama-bench", message: "output is not a JSON array")
        }
        var sample = PeerSpeedSample()
        for row in rows {
            let prompt = (row["n_prompt"] as? NSNumber)?.intValue ?? 0
            let gen = (row["n_gen"] as? NSNumber)?.intValue ?? 0
            guard let ts = (row["avg_ts"] as? NSNumber)?.doubleValue else { continue }
            if prompt > 0 && gen == 0 { sample.prefillTokensPerSecond = ts }
            if gen > 0 && prompt == 0 { sample.decodeTokensPerSecond = ts }
            sample.modelType = row["model_type"] as? String ?? sample.modelType
            sample.parameters = (row["model_n_params"] as? NSNumber)?.intValue ?? sample.parameters
        }
        guard sample.prefillTokensPerSecond != nil || sample.decodeTokensPerSecond != nil else {
            throw BenchError(file: source, field: "llama-bench", message: "no pp or tg result in its output")
        }
        return sample
    }

    /// Reads `Final estimate: PPL = X +/- Y` and, from the log's M.SS.mmm.uuu time stamps, the
    /// evaluation throughput (chunks × context tokens from "calculating perplexity" to the estimate).
    static func parsePerplexity(log: String) -> PeerQualitySample? {
        var ppl: Double?, err: Double?, startTime: Double?, endTime: Double?, tokens: Int?
        func stamp(_ line: Substring) -> Double? {
            let parts = line.split(separator: " ", maxSplits: 1).first?.split(separator: ".") ?? []
            guard parts.count == 4, let m = Double(parts[0]), let s = Double(parts[1]),
                  let ms = Double(parts[2]), let us = Double(parts[3]) else { return nil }
            return m * 60 + s + ms / 1e3 + us / 1e6
        }
        for line in log.split(separator: "\n") {
            if let r = line.range(of: "Final estimate: PPL = ") {
                let rest = line[r.upperBound...].split(separator: " ")
                ppl = rest.first.flatMap { Double($0) }
                if rest.count >= 3, rest[1] == "+/-" { err = Double(rest[2]) }
                endTime = stamp(line)
            }
            if let r = line.range(of: "calculating perplexity over ") {
                startTime = stamp(line)
                // "calculating perplexity over 16 chunks, n_ctx=512, …"
                let rest = line[r.upperBound...]
                let chunks = rest.split(separator: " ").first.flatMap { Int($0) }
                let ctx = rest.range(of: "n_ctx=").flatMap { Int(rest[$0.upperBound...].prefix { $0.isNumber }) }
                if let chunks, let ctx { tokens = chunks * ctx }
            }
        }
        guard let ppl else { return nil }
        var tps: Double?
        if let startTime, let endTime, let tokens, endTime > startTime { tps = Double(tokens) / (endTime - startTime) }
        return PeerQualitySample(perplexity: ppl, standardError: err, tokensPerSecond: tps, chunks: 0)
    }

    /// The GGUF form of a model for llama.cpp: a GGUF input as it is; an .rtm exported into
    /// `directory` (int8 → Q8_0, f16 → F16, f32 → F32; the tokenizer and hyperparameters carried over).
    public static func ggufForm(of model: ModelDescription, in directory: String) throws -> PeerModelFile {
        guard model.engine == .runtime else {
            return PeerModelFile(path: model.path, type: model.weights, exported: false, fileBytes: model.fileBytes)
        }
        let type: GGUFExportType = model.weights.hasPrefix("int8") ? .q8_0 : model.weights == "f16" ? .f16 : .f32
        let stem = URL(fileURLWithPath: model.path).deletingPathExtension().lastPathComponent
        let path = "\(directory)/\(stem)-\(type.rawValue).gguf"
        let file = try RTMFile.open(path: model.path)
        let writer = try makeGGUF(model: try LlamaModel.load(rtm: file), tokenizer: try TokenizerDefinition(rtm: file),
                                  type: type, name: stem)
        try writer.write(to: path)
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return PeerModelFile(path: path, type: type.rawValue.uppercased(), exported: true, fileBytes: size)
    }
}

/// The file llama.cpp runs for one model.
public struct PeerModelFile: Codable, Sendable, Equatable {
    public var path: String
    public var type: String           // matrix type llama.cpp runs (Q4_1, Q8_0, F32 …)
    public var exported: Bool         // written by this run from an .rtm (`retort export`'s writer)
    public var fileBytes: Int
}

public struct PeerSpeedSample: Codable, Sendable, Equatable {
    public var prefillTokensPerSecond: Double?
    public var decodeTokensPerSecond: Double?
    public var peakRSSBytes: Int = 0
    public var modelType: String?
    public var parameters: Int?
}

public struct PeerQualitySample: Codable, Sendable, Equatable {
    public var perplexity: Double
    public var standardError: Double?
    public var tokensPerSecond: Double?
    public var chunks: Int
}
