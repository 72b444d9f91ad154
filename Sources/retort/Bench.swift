import ArgumentParser
import Foundation
import RetortModel
import RetortRuntime

/// Speed of RetortRuntime on .rtm models, measured the way llama-bench measures (prefill of a
/// prompt of P tokens, then generation of N tokens, repeated), plus load time and peak RSS.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark RetortRuntime on .rtm models: load time, prefill and decode tokens/s, peak RSS.")

    @Option(name: .long, parsing: .upToNextOption, help: "Model files (.rtm).")
    var models: [String]

    @Option(name: .long, help: "Comma-separated thread counts.")
    var threads = "1,2"

    @Option(name: .long, help: "Prompt tokens for the prefill test (like llama-bench -p).")
    var promptTokens = 512

    @Option(name: .long, help: "Generated tokens for the decode test (like llama-bench -n).")
    var genTokens = 128

    @Option(name: .long, help: "Repetitions per test; the median is reported.")
    var reps = 3

    @Option(name: .long, help: "Text whose first tokens form the prompt (default: a fixed token pattern).")
    var text: String?

    @Flag(name: .long, help: "Print JSON lines instead of a table.")
    var json = false

    var threadCounts: [Int] { threads.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        guard !models.isEmpty else { throw ValidationError("--models needs at least one .rtm file") }
        for m in models where !FileManager.default.fileExists(atPath: m) { throw ValidationError("--models: no such file '\(m)'") }
        for m in models where !m.hasSuffix(".rtm") { throw ValidationError("--models: '\(m)' is not an .rtm file") }
        guard !threadCounts.isEmpty, threadCounts.allSatisfy({ $0 >= 1 && $0 <= 256 }) else {
            throw ValidationError("--threads: expected a list like 1,2 (each 1...256)")
        }
        guard promptTokens >= 1, genTokens >= 1, reps >= 1 else { throw ValidationError("--prompt-tokens, --gen-tokens and --reps must be ≥ 1") }
        if let text, !FileManager.default.fileExists(atPath: text) { throw ValidationError("--text: no such file '\(text)'") }
    }

    struct Row: Codable {
        var model: String
        var fileBytes: Int
        var threads: Int
        var kernels: String
        var loadMilliseconds: Double
        var promptTokens: Int
        var prefillTokensPerSecond: Double
        var genTokens: Int
        var decodeTokensPerSecond: Double
        var decodeP50Milliseconds: Double
        var decodeP95Milliseconds: Double
        var peakRSSBytes: Int
        var kvCacheBytes: Int
    }

    func run() throws {
        var rows: [Row] = []
        if !json {
            print("model                          threads  load ms   pp\(promptTokens) t/s   tg\(genTokens) t/s   p50 ms   p95 ms   file MiB   peak RSS MiB")
        }
        for path in models {
            let t0 = ContinuousClock.now
            let model = try RuntimeModel.load(path: path)
            let loadMs = (ContinuousClock.now - t0).seconds * 1000
            let fileBytes = model.file.fileSize
            var prompt: [Int32]
            if let text {
                prompt = Array(model.tokenizer.encode(try readTextFile(text, option: "--text"), addSpecial: false).prefix(promptTokens))
            } else {
                prompt = (0..<promptTokens).map { Int32(($0 * 7919 + 13) % model.config.vocabSize) }
            }
            while prompt.count < promptTokens { prompt.append(Int32(prompt.count % model.config.vocabSize)) }
            let capacity = promptTokens + genTokens
            for n in threadCounts {
                let pool = ThreadPool(threads: n)
                let session = RuntimeSession(model: model, capacity: capacity, maxBatch: promptTokens, pool: pool)
                var prefill: [Double] = [], decode: [Double] = [], steps: [UInt64] = []
                for _ in 0..<reps {
                    // Prefill test: the prompt as one batch.
                    session.reset()
                    let a = ContinuousClock.now
                    try session.forward(prompt, logits: .last)
                    prefill.append(Double(promptTokens) / (ContinuousClock.now - a).seconds)
                    // Decode test: N single-token steps from an empty cache (as llama-bench's tg).
                    session.reset()
                    var token: Int32 = prompt[0]
                    let b = ContinuousClock.now
                    for _ in 0..<genTokens {
                        let s = retortNow()
                        let logits = try session.forward([token], logits: .last)
                        token = Sampler.argmax(logits)
                        steps.append(retortNow() - s)
                    }
                    decode.append(Double(genTokens) / (ContinuousClock.now - b).seconds)
                }
                steps.sort()
                let row = Row(model: path, fileBytes: fileBytes, threads: n, kernels: "\(Kernels.active)", loadMilliseconds: loadMs,
                              promptTokens: promptTokens, prefillTokensPerSecond: median(prefill), genTokens: genTokens,
                              decodeTokensPerSecond: median(decode),
                              decodeP50Milliseconds: Double(steps[steps.count / 2]) / 1e6,
                              decodeP95Milliseconds: Double(steps[min(steps.count - 1, steps.count * 95 / 100)]) / 1e6,
                              peakRSSBytes: peakRSS(),
                              kvCacheBytes: 2 * model.config.layerCount * model.config.kvDim * capacity * 4)
                rows.append(row)
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys]
                    print(String(data: try encoder.encode(row), encoding: .utf8)!)
                } else {
                    let name = URL(fileURLWithPath: path).lastPathComponent
                    print(name.padding(toLength: 30, withPad: " ", startingAt: 0)
                          + String(format: " %7d %8.1f %10.1f %10.2f %8.2f %8.2f %10.1f %14.1f", n, loadMs, row.prefillTokensPerSecond,
                                   row.decodeTokensPerSecond, row.decodeP50Milliseconds, row.decodeP95Milliseconds,
                                   Double(fileBytes) / 1_048_576, Double(row.peakRSSBytes) / 1_048_576))
                }
            }
        }
    }
}

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    return s.isEmpty ? 0 : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func retortNow() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Peak resident set size of this process (VmHWM from /proc/self/status), in bytes; 0 if unknown.
func peakRSS() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let parts = line.split(separator: " ", omittingEmptySubsequences: true)
        if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
    }
    return 0
}
