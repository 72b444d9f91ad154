import ArgumentParser
import Foundation
import RetortBench
import RetortModel
import RetortRuntime
import RetortTrain

/// `retort bench-training`: training steps per second of the engine on a randomly initialised
/// model of a given shape, with the distillation loss against fixed random teacher logits —
/// the workload `tools/bench-training.sh` also runs in PyTorch (tools/bench_training_torch.py).
struct BenchTraining: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-training",
        abstract: "Benchmark training steps (forward, loss, backward, AdamW) on a random model; prints one JSON line.")

    @Option(name: .long, help: "Layers.") var layers = 10
    @Option(name: .long, help: "Model width.") var dim = 384
    @Option(name: .long, help: "Query heads.") var heads = 6
    @Option(name: .long, help: "Key/value heads.") var kvHeads = 2
    @Option(name: .long, help: "MLP width.") var ffn = 1024
    @Option(name: .long, help: "Vocabulary.") var vocab = 49_152
    @Option(name: .long, help: "Tokens per sequence.") var seq = 256
    @Option(name: .long, help: "Sequences per step.") var batch = 1
    @Option(name: .long, help: "Timed steps.") var steps = 10
    @Option(name: .long, help: "Untimed warm-up steps.") var warmup = 2
    @Option(name: .long, help: "Threads.") var threads: Int?
    @Option(name: .long, help: "Weight of the distillation term (α).") var alpha: Float = 0.5
    @Option(name: .long, help: "Distillation temperature.") var temperature: Float = 2
    @Option(name: .long, help: "Seed.") var seed: UInt64 = 1
    @Flag(name: .long, help: "Print the time of each part of a step (forward, loss, backward, optimizer) on stderr.")
    var profile = false

    func validate() throws {
        for (name, value) in [("layers", layers), ("dim", dim), ("heads", heads), ("kv-heads", kvHeads), ("ffn", ffn),
                              ("vocab", vocab), ("seq", seq), ("batch", batch), ("steps", steps)] where value < 1 {
            throw ValidationError("--\(name) must be ≥ 1 (got \(value))")
        }
        guard heads % kvHeads == 0 else { throw ValidationError("--heads (\(heads)) must be a multiple of --kv-heads (\(kvHeads))") }
        guard dim % heads == 0, (dim / heads) % 2 == 0 else {
            throw ValidationError("--dim (\(dim)) must split into --heads (\(heads)) heads of even width")
        }
        guard warmup >= 0 else { throw ValidationError("--warmup must be ≥ 0") }
        guard (0...1).contains(alpha), temperature > 0 else { throw ValidationError("--alpha must be in 0...1 and --temperature > 0") }
        if let threads, threads < 1 || threads > 256 { throw ValidationError("--threads must be in 1...256") }
    }

    struct Result: Codable {
        var framework = "retort"
        var tokensPerSecond: Double
        var stepSecondsMedian: Double
        var stepSecondsMin: Double
        var stepSecondsMax: Double
        var peakRSSBytes: Int
        var threads: Int
        var parameters: Int
        var activationBytes: Int
        var shape: [String: Int]
        var finalLoss: Double
        var profileSeconds: [String: Double]?

        enum CodingKeys: String, CodingKey {
            case framework, threads, parameters, shape
            case tokensPerSecond = "tokens_per_second", stepSecondsMedian = "step_seconds_median"
            case stepSecondsMin = "step_seconds_min", stepSecondsMax = "step_seconds_max"
            case peakRSSBytes = "peak_rss_bytes", activationBytes = "activation_bytes", finalLoss = "final_loss"
            case profileSeconds = "profile_seconds"
        }
    }

    func run() throws {
        if let threads { HostThreads.set(threads) }
        let config = LlamaConfig(vocabSize: vocab, dim: dim, layerCount: layers, headCount: heads, kvHeadCount: kvHeads,
                                 ffnDim: ffn, ropeBase: 100_000, normEpsilon: 1e-5, contextLength: seq, tiedEmbeddings: true)
        let model = LlamaModel(config: config)
        initializeRandom(model, seed: seed)
        let settings = TrainingSettings(batch: batch, sequenceLength: seq, accumulation: 1,
                                        schedule: LearningRateSchedule(peak: 1e-4, warmupSteps: 0, totalSteps: warmup + steps),
                                        maxGradientNorm: 1)
        let trainer = Trainer(model: model, settings: settings)
        let n = batch * seq
        var rng = SeededGenerator(seed: seed &+ 1)
        let tokens = (0...n).map { _ in Int32(rng.next() % UInt64(vocab)) }
        let input = Array(tokens[0..<n]), labels = Array(tokens[1...n])
        let teacher = FloatBuffer(count: n * vocab)
        for i in 0..<teacher.count { teacher[i] = 4 * (rng.nextUnitFloat() * 2 - 1) }

        var times: [Double] = []
        var last = 0.0
        var profileTotals: [String: Double] = [:]
        let clock = ContinuousClock()
        for s in 0..<(warmup + steps) {
            var lossSeconds = 0.0
            let report = trainer.step(tokens: { _ in input }) { graph, _, scale in
                let t0 = clock.now
                let l = objective(graph, labels: labels, teacher: teacher, scale: scale)
                lossSeconds = t0.duration(to: clock.now).seconds
                return MicroBatchLoss(loss: l.total, parts: ["ce": l.crossEntropy, "kd": l.distillation])
            }
            if s >= warmup {
                times.append(report.seconds)
                profileTotals["loss", default: 0] += lossSeconds
            }
            last = report.loss
        }
        if profile {
            // A separate, instrumented step: forward, loss, backward and optimizer timed apart.
            let parts = profileStep(trainer, input: input, labels: labels, teacher: teacher)
            for (name, value) in parts.sorted(by: { $0.key < $1.key }) { note(name.padding(toLength: 10, withPad: " ", startingAt: 0) + String(format: " %8.1f ms", value * 1000)) }
            profileTotals = parts
        }
        let sorted = times.sorted()
        let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        let result = Result(tokensPerSecond: Double(n) / median, stepSecondsMedian: median,
                            stepSecondsMin: sorted.first ?? 0, stepSecondsMax: sorted.last ?? 0,
                            peakRSSBytes: ProcessMemory.current().peakRSS, threads: HostThreads.count, parameters: config.parameterCount,
                            activationBytes: trainer.graph.activationBytes,
                            shape: ["layers": layers, "dim": dim, "heads": heads, "kv_heads": kvHeads, "ffn": ffn,
                                    "vocab": vocab, "seq": seq, "batch": batch],
                            finalLoss: last, profileSeconds: profile ? profileTotals : nil)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(data: try encoder.encode(result), encoding: .utf8)!)
    }

    /// (1 − α)·CE + α·τ²·KL on the graph's logits, gradient into its dLogits.
    private func objective(_ g: TrainingGraph, labels: [Int32], teacher: FloatBuffer, scale: Float) -> LogitsLoss {
        labels.withUnsafeBufferPointer {
            fusedDistillationRows(g.dLogits.pointer, g.logits.pointer, labels: $0.baseAddress!, teacher: teacher.pointer,
                                  rows: g.rows, vocab: g.config.vocabSize, alpha: alpha, temperature: temperature,
                                  scale: scale, scratch: g.logitsScratch)
        }
    }

    /// One step with each phase timed (the optimizer update included).
    private func profileStep(_ trainer: Trainer, input: [Int32], labels: [Int32], teacher: FloatBuffer) -> [String: Double] {
        let clock = ContinuousClock()
        let g = trainer.graph
        var t = clock.now
        var parts: [String: Double] = [:]
        func lap(_ name: String) {
            let now = clock.now
            parts[name, default: 0] += t.duration(to: now).seconds
            t = now
        }
        g.zeroGradients()
        lap("zero")
        input.withUnsafeBufferPointer { _ = g.forward($0) }
        lap("forward")
        _ = objective(g, labels: labels, teacher: teacher, scale: 1)
        lap("loss")
        g.backward()
        lap("backward")
        clipGradients(g.gradients, config: trainer.model.config, maxNorm: 1)
        trainer.optimizer.update(trainer.model.weights, gradients: g.gradients, learningRate: 1e-5)
        lap("optimizer")
        return parts
    }
}
