import Foundation
import RetortModel
import RetortTestSupport
import RetortTrain
import XCTest

/// The optimizer, clipping, schedules and the training loop: AdamW against its formula, clipping
/// to the threshold, the schedule's shape, a tiny model overfitting a fixed batch, and identical
/// losses from two runs with the same seed.
final class TrainerTests: XCTestCase {
    /// Relative agreement of a Float update with the same update computed in Double.
    static let optimizerTolerance: Float = 1e-5

    func testAdamWMatchesFormulaOverThreeSteps() {
        var c = TinyModels.config
        c.layerCount = 1
        let model = TinyModels.random(c, seed: 2)
        let grads = LlamaWeights(config: c)
        let settings = AdamWSettings(beta1: 0.8, beta2: 0.9, epsilon: 1e-6, weightDecay: 0.3)
        let adam = AdamW(config: c, settings: settings)
        let names = LlamaTensorName.table(config: c, weights: model.weights)
        let gtab = LlamaTensorName.table(config: c, weights: grads)
        // Double reference state per tensor.
        var w = names.map { $0.buffer.array.map(Double.init) }
        var m = names.map { [Double](repeating: 0, count: $0.buffer.count) }
        var v = m
        var rng = SplitMix(seed: 3)
        let rates: [Float] = [0.01, 0.02, 0.005]
        for (step, lr) in rates.enumerated() {
            for (i, g) in gtab.enumerated() {
                for j in 0..<g.buffer.count { g.buffer[j] = rng.nextUnit() * 2 - 1 }
                let decay = names[i].name.hasSuffix("norm.weight") ? 0 : Double(settings.weightDecay)
                let t = Double(step + 1)
                for j in 0..<g.buffer.count {
                    let gj = Double(g.buffer[j])
                    m[i][j] = 0.8 * m[i][j] + 0.2 * gj
                    v[i][j] = 0.9 * v[i][j] + 0.1 * gj * gj
                    let mh = m[i][j] / (1 - pow(0.8, t)), vh = v[i][j] / (1 - pow(0.9, t))
                    w[i][j] -= Double(lr) * (mh / (vh.squareRoot() + 1e-6) + decay * w[i][j])
                }
            }
            adam.update(model.weights, gradients: grads, learningRate: lr)
        }
        XCTAssertEqual(adam.step, 3)
        for (i, entry) in names.enumerated() {
            XCTAssertEqual(mismatches(entry.buffer.array, w[i].map(Float.init), tolerance: Self.optimizerTolerance), "",
                           entry.name)
        }
    }

    func testNormsAreNotDecayedByDefault() {
        let s = AdamWSettings()
        XCTAssertFalse(s.decays("blk.0.attn_norm.weight"))
        XCTAssertFalse(s.decays("output_norm.weight"))
        XCTAssertTrue(s.decays("blk.0.ffn_up.weight"))
        XCTAssertTrue(s.decays("token_embd.weight"))
        XCTAssertTrue(AdamWSettings(decayNorms: true).decays("output_norm.weight"))
    }

    func testClippingScalesToThreshold() {
        let c = TinyModels.config
        let grads = LlamaWeights(config: c)
        var rng = SplitMix(seed: 4)
        var sum = 0.0
        for entry in LlamaTensorName.table(config: c, weights: grads) {
            for j in 0..<entry.buffer.count {
                entry.buffer[j] = rng.nextUnit() * 2 - 1
                sum += Double(entry.buffer[j]) * Double(entry.buffer[j])
            }
        }
        XCTAssertEqual(globalNorm(grads, config: c), sum.squareRoot(), accuracy: 1e-9 * sum)
        let before = clipGradients(grads, config: c, maxNorm: 0.5)
        XCTAssertEqual(before, sum.squareRoot(), accuracy: 1e-6 * before)
        XCTAssertEqual(globalNorm(grads, config: c), 0.5, accuracy: 1e-5)
        // Below the threshold nothing changes.
        XCTAssertEqual(clipGradients(grads, config: c, maxNorm: 10), 0.5, accuracy: 1e-5)
        XCTAssertEqual(globalNorm(grads, config: c), 0.5, accuracy: 1e-5)
    }

    func testScheduleWarmsUpThenDecays() {
        let s = LearningRateSchedule(peak: 1e-3, warmupSteps: 10, totalSteps: 110, minimumRatio: 0.1)
        XCTAssertEqual(s.rate(at: 0), 1e-4, accuracy: 1e-9)
        XCTAssertEqual(s.rate(at: 9), 1e-3, accuracy: 1e-9)
        XCTAssertEqual(s.rate(at: 10), 1e-3, accuracy: 1e-9)
        XCTAssertEqual(s.rate(at: 60), 0.55e-3, accuracy: 1e-8)       // halfway: (1 + 0.1) / 2
        XCTAssertEqual(s.rate(at: 110), 1e-4, accuracy: 1e-9)
        XCTAssertEqual(s.rate(at: 500), 1e-4, accuracy: 1e-9)
        for i in 10..<110 { XCTAssertGreaterThanOrEqual(s.rate(at: i), s.rate(at: i + 1)) }
        XCTAssertEqual(TemperatureSchedule.linear(start: 4, end: 1).temperature(at: 0.5), 2.5, accuracy: 1e-6)
        XCTAssertEqual(TemperatureSchedule.cosine(start: 4, end: 1).temperature(at: 0), 4, accuracy: 1e-6)
        XCTAssertEqual(TemperatureSchedule.cosine(start: 4, end: 1).temperature(at: 1), 1, accuracy: 1e-6)
        XCTAssertEqual(TemperatureSchedule.constant(2).temperature(at: 0.7), 2)
    }

    func testInitializationIsSeededAndScaled() {
        var c = TinyModels.config
        c.dim = 64
        c.ffnDim = 128
        c.headCount = 4
        c.kvHeadCount = 2
        c.headDim = 16
        let a = LlamaModel(config: c), b = LlamaModel(config: c)
        initializeRandom(a, seed: 9, standardDeviation: 0.05)
        initializeRandom(b, seed: 9, standardDeviation: 0.05)
        XCTAssertEqual(a.weights.layers[1].wUp.array, b.weights.layers[1].wUp.array)
        let up = a.weights.layers[0].wUp.array
        let std = (up.reduce(0.0) { $0 + Double($1 * $1) } / Double(up.count)).squareRoot()
        XCTAssertEqual(std, 0.05, accuracy: 0.005)
        let down = a.weights.layers[0].wDown.array
        let downStd = (down.reduce(0.0) { $0 + Double($1 * $1) } / Double(down.count)).squareRoot()
        XCTAssertEqual(downStd, 0.05 / 2, accuracy: 0.003)      // std / √(2L), L = 2
        XCTAssertEqual(a.weights.finalNorm.array, [Float](repeating: 1, count: c.dim))
    }

    /// A tiny model memorises one fixed batch: cross-entropy falls from ≈ log V to near zero.
    func testTinyModelOverfitsFixedBatch() {
        let (losses, _) = train(seed: 5, steps: 150)
        XCTAssertGreaterThan(losses[0], 3, "starts near log 48 ≈ 3.9")
        XCTAssertLessThan(losses.last!, 0.05, "losses: \(losses.enumerated().filter { $0.offset % 25 == 0 }.map(\.element))")
    }

    /// Two runs from the same seed give bit-identical losses (and weights).
    func testSameSeedGivesIdenticalLosses() {
        let (a, wa) = train(seed: 6, steps: 12)
        let (b, wb) = train(seed: 6, steps: 12)
        XCTAssertEqual(a, b)
        XCTAssertEqual(wa, wb)
        let (c, _) = train(seed: 7, steps: 12)
        XCTAssertNotEqual(a, c)
    }

    /// Trains a tiny model from `seed` on one fixed batch (2 micro-batches of 2×8 tokens,
    /// clipping at 1, AdamW, warmup then cosine). Returns the per-step losses and final weights.
    private func train(seed: UInt64, steps: Int) -> ([Double], [Float]) {
        var c = TinyModels.config
        c.dim = 32
        c.headDim = 8
        let model = LlamaModel(config: c)
        initializeRandom(model, seed: seed, standardDeviation: 0.1)
        let settings = TrainingSettings(batch: 2, sequenceLength: 8, accumulation: 2,
                                        schedule: LearningRateSchedule(peak: 1e-2, warmupSteps: 5, totalSteps: steps),
                                        adamW: AdamWSettings(weightDecay: 0.01), maxGradientNorm: 1)
        let trainer = Trainer(model: model, settings: settings)
        let n = settings.batch * settings.sequenceLength
        let data = randomTokens(count: 2 * n + 1, vocab: c.vocabSize, seed: seed &+ 100)
        var losses: [Double] = []
        for _ in 0..<steps {
            let report = trainer.step(tokens: { i in Array(data[i * n ..< (i + 1) * n]) }) { graph, i, scale in
                let labels = Array(data[i * n + 1 ..< (i + 1) * n + 1])
                return MicroBatchLoss(loss: labels.withUnsafeBufferPointer {
                    crossEntropyStep(graph, labels: $0.baseAddress!, scale: scale)
                })
            }
            losses.append(report.loss)
        }
        return (losses, model.weights.layers[0].wq.array)
    }
}

/// The fused logits objective equals the separate CE and KL functions, value and gradient.
final class LogitsObjectiveTests: XCTestCase {
    /// Fused (Float, SIMD exp) vs separate (Double exp) computations of the same loss.
    static let tolerance: Float = 1e-5

    func testFusedMatchesSeparateLosses() {
        for (v, alpha, tau) in [(37, Float(0.6), Float(2)), (64, 0.0, 1), (200, 1.0, 4), (9, 0.3, 0.5)] {
            let n = 7
            var rng = SplitMix(seed: UInt64(v))
            let z = (0..<n * v).map { _ in 6 * (rng.nextUnit() * 2 - 1) }
            let t = (0..<n * v).map { _ in 6 * (rng.nextUnit() * 2 - 1) }
            let y = (0..<n).map { _ in Int32(rng.nextInt(v)) }
            let scale: Float = 0.7
            var fusedGrad = [Float](repeating: accumulationSentinel, count: n * v)
            let loss = fusedDistillationRows(&fusedGrad, z, labels: y, teacher: t, rows: n, vocab: v, alpha: alpha,
                                             temperature: tau, scale: scale, scratch: LogitsScratch(vocab: v))
            var rows = [Float](repeating: 0, count: n)
            let ce = crossEntropyForward(&rows, z, y, rows: n, vocab: v)
            let kd = distillationKLForward(&rows, z, t, rows: n, vocab: v, temperature: tau)
            var grad = [Float](repeating: 0, count: n * v)
            crossEntropyBackward(&grad, z, y, rows: n, vocab: v, scale: scale * (1 - alpha) / Float(n))
            distillationKLBackward(&grad, z, t, rows: n, vocab: v, temperature: tau, scale: scale * alpha / Float(n))
            let label = "V=\(v) α=\(alpha) τ=\(tau)"
            XCTAssertEqual(loss.crossEntropy, Double(ce), accuracy: Double(Self.tolerance) * Double(max(1, ce)), label)
            XCTAssertEqual(loss.distillation, Double(kd), accuracy: Double(Self.tolerance) * Double(max(1, kd)), label)
            let gmax = grad.map(abs).max()!
            XCTAssertEqual(mismatches(fusedGrad.map { $0 - accumulationSentinel }, grad, tolerance: Self.tolerance,
                                      relativeTo: gmax), "", label)
        }
    }

    func testCrossEntropyOnlyWithoutTeacher() {
        let v = 50, n = 3
        var rng = SplitMix(seed: 8)
        let z = (0..<n * v).map { _ in 4 * (rng.nextUnit() * 2 - 1) }
        let y = (0..<n).map { _ in Int32(rng.nextInt(v)) }
        var g = [Float](repeating: 0, count: n * v)
        let loss = fusedDistillationRows(&g, z, labels: y, teacher: nil, rows: n, vocab: v, alpha: 0, temperature: 1,
                                         scale: 1, scratch: LogitsScratch(vocab: v))
        var rows = [Float](repeating: 0, count: n)
        XCTAssertEqual(loss.crossEntropy, Double(crossEntropyForward(&rows, z, y, rows: n, vocab: v)), accuracy: 1e-5)
        XCTAssertEqual(loss.distillation, 0)
    }
}

extension LogitsObjectiveTests {
    /// The fused sparse objective equals CE + the reference sparse KL (Losses/SparseDistillation.swift).
    func testFusedSparseMatchesReference() {
        for (v, k, alpha, tau) in [(64, 8, Float(0.5), Float(2)), (40, 39, 1.0, 1), (100, 3, 0.2, 0.7)] {
            let n = 5
            var rng = SplitMix(seed: UInt64(v * k))
            let z = (0..<n * v).map { _ in 5 * (rng.nextUnit() * 2 - 1) }
            let t = (0..<n * v).map { _ in 5 * (rng.nextUnit() * 2 - 1) }
            let y = (0..<n).map { _ in Int32(rng.nextInt(v)) }
            var ids = [Int32](repeating: 0, count: n * k), lp = [Float](repeating: 0, count: n * k)
            var rest = [Float](repeating: 0, count: n)
            sparseTeacherFromLogits(&ids, &lp, &rest, t, rows: n, vocab: v, topK: k, temperature: tau)
            let scale: Float = 1.3
            var fused = [Float](repeating: accumulationSentinel, count: n * v)
            let loss = fusedSparseDistillationRows(&fused, z, labels: y, ids: ids, logProbs: lp, rest: rest, topK: k,
                                                   rows: n, vocab: v, alpha: alpha, temperature: tau, scale: scale,
                                                   scratch: LogitsScratch(vocab: v))
            var rows = [Float](repeating: 0, count: n)
            let ce = crossEntropyForward(&rows, z, y, rows: n, vocab: v)
            let kd = sparseDistillationForward(&rows, z, ids, lp, rest, rows: n, vocab: v, topK: k, temperature: tau)
            var grad = [Float](repeating: 0, count: n * v)
            crossEntropyBackward(&grad, z, y, rows: n, vocab: v, scale: scale * (1 - alpha) / Float(n))
            sparseDistillationBackward(&grad, z, ids, lp, rest, rows: n, vocab: v, topK: k, temperature: tau,
                                       scale: scale * alpha / Float(n))
            let label = "V=\(v) K=\(k) α=\(alpha) τ=\(tau)"
            XCTAssertEqual(loss.crossEntropy, Double(ce), accuracy: Double(Self.tolerance) * Double(max(1, ce)), label)
            XCTAssertEqual(loss.distillation, Double(kd), accuracy: Double(Self.tolerance) * Double(max(1, kd)), label)
            let gmax = grad.map(abs).max()!
            XCTAssertEqual(mismatches(fused.map { $0 - accumulationSentinel }, grad, tolerance: Self.tolerance,
                                      relativeTo: gmax), "", label)
        }
    }
}
