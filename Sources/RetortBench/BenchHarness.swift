import Foundation
import RetortModel

/// Runs a benchmark: speed and memory of every model at every thread count in `reps` rounds
/// (within a round the models, and the llama.cpp peer after each, alternate, so slow drifts of a
/// shared machine spread over all of them), then quality of every model, then the report.
public struct BenchHarness {
    public var settings: BenchSettings
    public var worker: WorkerRunner
    public var peer: LlamaCppPeer?
    public var log: (String) -> Void

    public init(settings: BenchSettings, worker: @escaping WorkerRunner, peer: LlamaCppPeer? = nil,
                log: @escaping (String) -> Void = { _ in }) {
        self.settings = settings
        self.worker = worker
        self.peer = peer
        self.log = log
    }

    public func run() throws -> BenchReport {
        let s = settings
        let models = try s.models.map { try ModelDescription.inspect($0) }
        let maxThreads = s.threads.max() ?? 1

        // The GGUF form of every model for the peer (.rtm exported into a temporary folder).
        var peerFiles = [PeerModelFile?](repeating: nil, count: models.count)
        var peerErrors = [String?](repeating: nil, count: models.count)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("retort-bench-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        if peer != nil {
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            for (i, m) in models.enumerated() {
                do {
                    if m.engine == .runtime { log("exporting \(m.name) to GGUF for llama.cpp") }
                    guard case .export(let file) = try worker(.export(ExportRequest(model: m, directory: scratch))) else {
                        throw BenchError(file: m.path, field: "worker", message: "answered an export request with another result")
                    }
                    peerFiles[i] = file
                } catch {
                    peerErrors[i] = "\(error)"
                }
            }
        }

        // Speed rounds.
        var speed = [[[SpeedSample]]](repeating: [[SpeedSample]](repeating: [], count: s.threads.count), count: models.count)
        var peerSpeed = [[[PeerSpeedSample]]](repeating: [[PeerSpeedSample]](repeating: [], count: s.threads.count),
                                              count: models.count)
        var peerSpeedErrors = [[String?]](repeating: [String?](repeating: nil, count: s.threads.count), count: models.count)
        for round in 1...s.reps {
            for (i, m) in models.enumerated() {
                for (j, t) in s.threads.enumerated() {
                    log("[round \(round)/\(s.reps)] \(m.name), \(t) thread\(t == 1 ? "" : "s")")
                    let request = SpeedRequest(model: m.path, threads: t, promptTokens: s.promptTokens, genTokens: s.genTokens,
                                               promptText: s.text, cold: s.cold)
                    guard case .speed(let sample) = try worker(.speed(request)) else {
                        throw BenchError(file: m.path, field: "worker", message: "answered a speed request with another result")
                    }
                    speed[i][j].append(sample)
                    if let peer, let file = peerFiles[i], peerSpeedErrors[i][j] == nil {
                        do {
                            let request = PeerSpeedRequest(peer: peer, gguf: file.path, promptTokens: s.promptTokens,
                                                           genTokens: s.genTokens, threads: t)
                            guard case .peerSpeed(let sample) = try worker(.peerSpeed(request)) else {
                                throw BenchError(file: file.path, field: "worker", message: "answered a llama-bench request with another result")
                            }
                            peerSpeed[i][j].append(sample)
                        } catch {
                            peerSpeedErrors[i][j] = "\(error)"
                        }
                    }
                }
            }
        }

        // Quality: once per model (deterministic), with the most threads.
        var quality = [QualitySample?](repeating: nil, count: models.count)
        var peerQuality = [PeerQualitySample?](repeating: nil, count: models.count)
        if let text = s.text {
            for (i, m) in models.enumerated() {
                log("quality: \(m.name) on the first \(s.qualityTokens) tokens of \(text)"
                    + (m.path == s.reference ? " (the reference)" : ", against \(URL(fileURLWithPath: s.reference).lastPathComponent)"))
                let request = QualityRequest(model: m.path, reference: s.reference, text: text, maxTokens: s.qualityTokens,
                                             context: s.context, method: s.method, threads: maxThreads)
                guard case .quality(let sample) = try worker(.quality(request)) else {
                    throw BenchError(file: m.path, field: "worker", message: "answered a quality request with another result")
                }
                quality[i] = sample
                if let peer, let file = peerFiles[i], peerErrors[i] == nil {
                    log("quality: llama-perplexity on \(URL(fileURLWithPath: file.path).lastPathComponent)")
                    do {
                        peerQuality[i] = try peer.perplexity(gguf: file.path, text: text, context: s.context,
                                                             chunks: s.qualityTokens / s.context, threads: maxThreads)
                    } catch {
                        peerErrors[i] = "\(error)"
                    }
                }
            }
        }

        var results: [ModelResult] = []
        for (i, m) in models.enumerated() {
            var rows: [ThreadResult] = []
            for (j, t) in s.threads.enumerated() {
                var row = Self.summarize(threads: t, samples: speed[i][j])
                if peer != nil, peerFiles[i] != nil {
                    row.peer = Self.summarize(peer: peerSpeed[i][j], retort: row, error: peerSpeedErrors[i][j])
                }
                rows.append(row)
            }
            let peerResult = peer == nil ? nil : PeerResult(file: peerFiles[i], quality: peerQuality[i], error: peerErrors[i])
            results.append(ModelResult(model: m, isReference: m.path == s.reference, quality: quality[i], threads: rows,
                                       peer: peerResult))
        }
        return BenchReport(machine: .current(), settings: s, notes: Self.notes(settings: s, peer: peer != nil), models: results)
    }

    /// Median and spread of one model's repetitions at one thread count.
    static func summarize(threads: Int, samples: [SpeedSample]) -> ThreadResult {
        let steps = samples.flatMap(\.decodeStepMilliseconds)
        func spread(_ values: [Double]) -> Spread { Spread(values) ?? Spread([0])! }
        let cold = samples.compactMap(\.coldLoadMilliseconds)
        let resident = samples.compactMap(\.residentBeforeColdLoad)
        return ThreadResult(threads: threads, kernels: samples.first?.kernels ?? "",
                            warmLoadMilliseconds: spread(samples.map(\.warmLoadMilliseconds)),
                            coldLoadMilliseconds: Spread(cold), residentBeforeColdLoad: Spread(resident),
                            peakRSSBytes: spread(samples.map { Double($0.memory.peakRSS) }),
                            anonRSSBytes: spread(samples.map { Double($0.memory.anonRSS) }),
                            baselineRSSBytes: spread(samples.map { Double($0.baselineRSSBytes) }),
                            prefillTokensPerSecond: spread(samples.map(\.prefillTokensPerSecond)),
                            decodeTokensPerSecond: spread(samples.map(\.decodeTokensPerSecond)),
                            decodeP50Milliseconds: percentile(steps, 0.5), decodeP95Milliseconds: percentile(steps, 0.95),
                            kvCacheBytes: samples.first?.kvCacheBytes ?? 0, peer: nil)
    }

    static func summarize(peer samples: [PeerSpeedSample], retort: ThreadResult, error: String?) -> PeerThreadResult {
        let pp = Spread(samples.compactMap(\.prefillTokensPerSecond))
        let tg = Spread(samples.compactMap(\.decodeTokensPerSecond))
        func ratio(_ ours: Spread, _ theirs: Spread?) -> Double? {
            guard let theirs, theirs.median > 0 else { return nil }
            return ours.median / theirs.median
        }
        return PeerThreadResult(prefillTokensPerSecond: pp, decodeTokensPerSecond: tg,
                                peakRSSBytes: Spread(samples.map { Double($0.peakRSSBytes) }),
                                prefillRatio: ratio(retort.prefillTokensPerSecond, pp),
                                decodeRatio: ratio(retort.decodeTokensPerSecond, tg), error: error)
    }

    static func notes(settings s: BenchSettings, peer: Bool) -> [String] {
        var notes = [
            "Each speed measurement runs in its own process (peak RSS is that process's VmHWM; anon RSS is RssAnon after "
                + "the tests; baseline is RSS before loading — the process and its libraries; over base = peak − baseline, what the model "
                + "and its session added; ÷ file+KV = over base ÷ (file size + KV cache of prompt + generate positions)). Medians over \(s.reps) repetition\(s.reps == 1 ? "" : "s"), [min–max]; within a round "
                + "the models alternate.",
            "Load = open the file to a session ready for a prompt (tokenizer built, KV cache allocated). Warm: the file in "
                + "the page cache. "
                + (s.cold ? "Cold: first load after posix_fadvise(POSIX_FADV_DONTNEED) on the file (resident fraction "
                    + "recorded; pages mapped by other processes stay cached)."
                    : "Cold loads not measured (--no-cold)."),
            "Prefill: \(s.promptTokens) tokens in one batch; decode: \(s.genTokens) single-token steps from an empty cache "
                + "(llama-bench's pp and tg); p50/p95 are per-token decode latencies over every step of every repetition.",
            "GGUF models run in the host FP32 engine (weights dequantized at load, OpenBLAS); .rtm models in RetortRuntime.",
        ]
        if let text = s.text {
            notes.append("Quality: \(s.method) protocol, context \(s.context), first \(s.qualityTokens) tokens of \(text); "
                         + "KL(reference ‖ model) in nats per scored token and top-1 agreement against "
                         + "\(URL(fileURLWithPath: s.reference).lastPathComponent), over the same windows.")
        } else {
            notes.append("Quality not measured (no --text).")
        }
        if peer {
            notes.append("llama.cpp: llama-bench (one run per round) and llama-perplexity (llama.cpp protocol, "
                         + "\(s.qualityTokens / max(s.context, 1)) chunks of \(s.context)) on the GGUF form of each model: "
                         + "a GGUF as it is, an .rtm exported by retort (int8 → Q8_0, f16 → F16, f32 → F32). "
                         + "Ratios are Retort ÷ llama.cpp tokens/s.")
        }
        #if DEBUG
        notes.append("Debug build: Swift code runs unoptimized; measure with `swift build -c release`.")
        #endif
        return notes
    }
}
