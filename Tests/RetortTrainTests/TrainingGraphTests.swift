import RetortModel
import RetortRuntime
import RetortTestSupport
import RetortTrain
import XCTest

/// The whole-model forward/backward pass (`TrainingGraph`): logits equal the host model's, every
/// parameter's gradient matches finite differences, hidden-state gradients enter at the right
/// layer, and micro-batches accumulate to the full batch's gradient.
final class TrainingGraphTests: XCTestCase {
    static let untiedConfig: LlamaConfig = {
        var c = TinyModels.config
        c.tiedEmbeddings = false
        c.vocabSize = 20
        return c
    }()

    func testForwardMatchesLlamaSession() throws {
        let model = TinyModels.random(seed: 3)
        let c = model.config
        let b = 2, t = 7
        let tokens = randomTokens(count: b * t, vocab: c.vocabSize, seed: 5)
        let graph = TrainingGraph(model: model, batch: b, sequenceLength: t)
        tokens.withUnsafeBufferPointer { _ = graph.forward($0) }
        for s in 0..<b {
            let expected = try batchedLogits(model, Array(tokens[s * t ..< (s + 1) * t]))
            let actual = Array(graph.logits.array[s * t * c.vocabSize ..< (s + 1) * t * c.vocabSize])
            XCTAssertEqual(mismatches(actual, expected, tolerance: Tolerance.fp32Kernel), "", "sequence \(s)")
        }
    }

    /// Finite differences of α·KL·τ² + (1−α)·CE + Σ c·hidden over every parameter of a tiny model.
    func testWholeModelGradientsTied() {
        checkWholeModel(TinyModels.random(seed: 11, scale: 0.4))
    }

    func testWholeModelGradientsUntied() {
        checkWholeModel(TinyModels.random(Self.untiedConfig, seed: 12, scale: 0.4))
    }

    private func checkWholeModel(_ model: LlamaModel, file: StaticString = #filePath, line: UInt = #line) {
        let c = model.config
        let b = 2, t = 5, n = b * t, v = c.vocabSize
        let tokens = randomTokens(count: n, vocab: v, seed: 21)
        let labels = randomTokens(count: n, vocab: v, seed: 22)
        var rng = SplitMix(seed: 23)
        let teacher = (0..<n * v).map { _ in 3 * (rng.nextUnit() * 2 - 1) }
        let hiddenWeights = projection(count: n * c.dim, rng: &rng)
        let alpha: Float = 0.6, tau: Float = 2
        let graph = TrainingGraph(model: model, batch: b, sequenceLength: t)
        var losses = [Float](repeating: 0, count: n)

        func objective() -> Double {
            tokens.withUnsafeBufferPointer { _ = graph.forward($0) }
            var total = 0.0
            crossEntropyForward(&losses, graph.logits.pointer, labels, rows: n, vocab: v)
            total += Double(1 - alpha) * losses.reduce(0.0) { $0 + Double($1) } / Double(n)
            distillationKLForward(&losses, graph.logits.pointer, teacher, rows: n, vocab: v, temperature: tau)
            total += Double(alpha) * losses.reduce(0.0) { $0 + Double($1) } / Double(n)
            let h = graph.hiddenState(after: 0)
            for i in 0..<n * c.dim { total += Double(hiddenWeights[i]) * Double(h[i]) }
            return total
        }

        _ = objective()
        crossEntropyBackward(graph.dLogits.pointer, graph.logits.pointer, labels, rows: n, vocab: v,
                             scale: (1 - alpha) / Float(n))
        distillationKLBackward(graph.dLogits.pointer, graph.logits.pointer, teacher, rows: n, vocab: v,
                               temperature: tau, scale: alpha / Float(n))
        graph.zeroGradients()
        // Start from the sentinel: backward must add.
        for entry in LlamaTensorName.table(config: c, weights: graph.gradients) {
            entry.buffer.pointer.update(repeating: accumulationSentinel, count: entry.buffer.count)
        }
        hiddenWeights.withUnsafeBufferPointer { graph.backward(hidden: [(layer: 0, gradient: $0.baseAddress!)]) }

        let weights = LlamaTensorName.table(config: c, weights: model.weights)
        let grads = LlamaTensorName.table(config: c, weights: graph.gradients)
        for (w, g) in zip(weights, grads) {
            let x = Tensor(w.buffer.array)
            let analytic = g.buffer.array.map { $0 - accumulationSentinel }
            let report = gradientCheck(w.name, x, analytic: analytic, step: 1e-2, tolerance: GradientTolerance.wholeModel,
                                       floor: GradientTolerance.wholeModelFloor) {
                w.buffer.pointer.update(from: x.values, count: x.count)
                return objective()
            }
            w.buffer.pointer.update(from: x.values, count: x.count)
            XCTAssertEqual(report, "", file: file, line: line)
        }
    }

    /// Two micro-batches of one sequence each, with the loss scaled by ½, accumulate the same
    /// gradient as one batch of both sequences.
    func testMicroBatchesAccumulateToFullBatch() {
        let model = TinyModels.random(seed: 31)
        let c = model.config
        let t = 6, v = c.vocabSize
        let tokens = randomTokens(count: 2 * t, vocab: v, seed: 32)
        let labels = randomTokens(count: 2 * t, vocab: v, seed: 33)
        let full = TrainingGraph(model: model, batch: 2, sequenceLength: t)
        full.zeroGradients()
        tokens.withUnsafeBufferPointer { _ = full.forward($0) }
        crossEntropyBackward(full.dLogits.pointer, full.logits.pointer, labels, rows: 2 * t, vocab: v, scale: 1 / Float(2 * t))
        full.backward()

        let micro = TrainingGraph(model: model, batch: 1, sequenceLength: t)
        micro.zeroGradients()
        for s in 0..<2 {
            let slice = Array(tokens[s * t ..< (s + 1) * t]), sliceLabels = Array(labels[s * t ..< (s + 1) * t])
            slice.withUnsafeBufferPointer { _ = micro.forward($0) }
            crossEntropyBackward(micro.dLogits.pointer, micro.logits.pointer, sliceLabels, rows: t, vocab: v,
                                 scale: 0.5 / Float(t))
            micro.backward()
        }
        let a = LlamaTensorName.table(config: c, weights: full.gradients)
        let m = LlamaTensorName.table(config: c, weights: micro.gradients)
        for (x, y) in zip(a, m) {
            let scale = x.buffer.array.map(abs).max() ?? 1
            XCTAssertEqual(mismatches(y.buffer.array, x.buffer.array, tolerance: Tolerance.fp32Kernel, relativeTo: max(scale, 1e-3)),
                           "", x.name)
        }
    }
}

func randomTokens(count: Int, vocab: Int, seed: UInt64) -> [Int32] {
    var rng = SplitMix(seed: seed)
    return (0..<count).map { _ in Int32(rng.nextInt(vocab)) }
}
