import Foundation
import RetortModel

/// Optimisation settings of a training run.
public struct TrainingSettings: Sendable, Codable, Equatable {
    /// Sequences per micro-batch (B) and tokens per sequence (T).
    public var batch: Int
    public var sequenceLength: Int
    /// Micro-batches whose gradients are summed before each optimizer step.
    public var accumulation: Int
    public var schedule: LearningRateSchedule
    public var adamW: AdamWSettings
    /// Global gradient-norm clipping threshold; ≤ 0 turns clipping off.
    public var maxGradientNorm: Double

    public init(batch: Int, sequenceLength: Int, accumulation: Int = 1, schedule: LearningRateSchedule,
                adamW: AdamWSettings = AdamWSettings(), maxGradientNorm: Double = 1) {
        self.batch = batch
        self.sequenceLength = sequenceLength
        self.accumulation = accumulation
        self.schedule = schedule
        self.adamW = adamW
        self.maxGradientNorm = maxGradientNorm
    }

    /// Tokens per optimizer step.
    public var tokensPerStep: Int { batch * sequenceLength * accumulation }
}

/// What one optimizer step did.
public struct StepReport: Sendable, Codable {
    public var step: Int                   // 1-based count of updates applied
    public var loss: Double                // mean objective over the micro-batches
    public var parts: [String: Double]     // named loss terms, means over the micro-batches
    public var gradientNorm: Double        // before clipping
    public var learningRate: Float
    public var seconds: Double
}

/// The loss of one micro-batch: its value (and named parts) after `forward`. The closure adds
/// ∂loss/∂logits into `graph.dLogits` already multiplied by `scale` (1 / accumulation), and
/// may return hidden-state gradients (also scaled) to inject during backward.
public struct MicroBatchLoss {
    public var loss: Double
    public var parts: [String: Double]
    public var hidden: [(layer: Int, gradient: UnsafePointer<Float>)]

    public init(loss: Double, parts: [String: Double] = [:], hidden: [(layer: Int, gradient: UnsafePointer<Float>)] = []) {
        self.loss = loss
        self.parts = parts
        self.hidden = hidden
    }
}

/// Runs optimizer steps: zero gradients → for each micro-batch forward, loss, backward →
/// clip → AdamW at the scheduled rate. Owns the graph (activations) and optimizer state.
public final class Trainer: @unchecked Sendable {
    public let model: LlamaModel
    public private(set) var settings: TrainingSettings
    public let graph: TrainingGraph
    public let optimizer: AdamW

    public init(model: LlamaModel, settings: TrainingSettings) {
        precondition(settings.accumulation >= 1, "accumulation must be ≥ 1")
        self.model = model
        self.settings = settings
        graph = TrainingGraph(model: model, batch: settings.batch, sequenceLength: settings.sequenceLength)
        optimizer = AdamW(config: model.config, settings: settings.adamW)
    }

    /// Updates applied so far.
    public var step: Int { optimizer.step }

    /// Steps the learning-rate schedule spans (set when a time budget fixes the run's length).
    public var scheduleTotalSteps: Int {
        get { settings.schedule.totalSteps }
        set { settings.schedule.totalSteps = max(1, newValue) }
    }

    /// One optimizer step. `tokens(i)` gives micro-batch i's B·T input ids; `loss(graph, i, scale)`
    /// runs after its forward pass (see `MicroBatchLoss`).
    public func step(tokens: (Int) -> [Int32],
                     loss: (TrainingGraph, Int, Float) -> MicroBatchLoss) -> StepReport {
        let clock = ContinuousClock()
        let start = clock.now
        let accumulation = settings.accumulation
        let scale = 1 / Float(accumulation)
        graph.zeroGradients()
        var total = 0.0
        var parts: [String: Double] = [:]
        for i in 0..<accumulation {
            let input = tokens(i)
            input.withUnsafeBufferPointer { _ = graph.forward($0) }
            let l = loss(graph, i, scale)
            total += l.loss / Double(accumulation)
            for (name, value) in l.parts { parts[name, default: 0] += value / Double(accumulation) }
            graph.backward(hidden: l.hidden)
        }
        let norm = clipGradients(graph.gradients, config: model.config, maxNorm: settings.maxGradientNorm)
        let rate = settings.schedule.rate(at: optimizer.step)
        optimizer.update(model.weights, gradients: graph.gradients, learningRate: rate)
        return StepReport(step: optimizer.step, loss: total, parts: parts, gradientNorm: norm, learningRate: rate,
                          seconds: start.duration(to: clock.now).seconds)
    }
}

/// Cross-entropy on next-token labels over N rows, forward and (scaled) backward into
/// `graph.dLogits`, split over the engine's workers by rows. Returns the mean loss.
public func crossEntropyStep(_ graph: TrainingGraph, labels: UnsafePointer<Int32>, scale: Float) -> Double {
    let n = graph.rows, v = graph.config.vocabSize
    var losses = [Float](repeating: 0, count: n)
    losses.withUnsafeMutableBufferPointer { out in
        let out = out.baseAddress!, logits = UnsafePointer(graph.logits.pointer), d = graph.dLogits.pointer
        parallelChunks(n) { rows in
            let lo = rows.lowerBound
            crossEntropyForward(out + lo, logits + lo * v, labels + lo, rows: rows.count, vocab: v)
            crossEntropyBackward(d + lo * v, logits + lo * v, labels + lo, rows: rows.count, vocab: v, scale: scale / Float(n))
        }
    }
    return losses.reduce(0.0) { $0 + Double($1) } / Double(n)
}

/// τ²·KL(teacher_τ ‖ student_τ) over the full vocabulary against teacher logits (N, V), forward and
/// (scaled) backward into `graph.dLogits`, split by rows. Returns the mean loss.
public func distillationStep(_ graph: TrainingGraph, teacherLogits: UnsafePointer<Float>, temperature: Float,
                             scale: Float) -> Double {
    let n = graph.rows, v = graph.config.vocabSize
    var losses = [Float](repeating: 0, count: n)
    losses.withUnsafeMutableBufferPointer { out in
        let out = out.baseAddress!, logits = UnsafePointer(graph.logits.pointer), d = graph.dLogits.pointer
        parallelChunks(n) { rows in
            let lo = rows.lowerBound
            distillationKLForward(out + lo, logits + lo * v, teacherLogits + lo * v, rows: rows.count, vocab: v,
                                  temperature: temperature)
            distillationKLBackward(d + lo * v, logits + lo * v, teacherLogits + lo * v, rows: rows.count, vocab: v,
                                   temperature: temperature, scale: scale / Float(n))
        }
    }
    return losses.reduce(0.0) { $0 + Double($1) } / Double(n)
}
