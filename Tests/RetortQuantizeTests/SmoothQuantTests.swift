import RetortModel
import RetortRuntime
import RetortTestSupport
import XCTest
@testable import RetortQuantize

func randomSequences(count: Int, length: Int, vocabulary: Int, seed: UInt64) -> [[Int32]] {
    var rng = SeededGenerator(seed: seed)
    return (0..<count).map { _ in (0..<length).map { _ in Int32(rng.next() % UInt64(vocabulary)) } }
}

/// A tiny model with activation outliers: a few norm channels scaled up, as in real LLMs.
func tinyModelWithOutliers(_ config: LlamaConfig = TinyModels.config, seed: UInt64 = 11) -> LlamaModel {
    let model = TinyModels.random(config, seed: seed)
    for layer in model.weights.layers {
        layer.attnNorm[1] *= 25
        layer.ffnNorm[config.dim - 2] *= 30
    }
    return model
}

final class SmoothQuantTests: XCTestCase {
    func testSmoothingLeavesTheFP32FunctionUnchanged() throws {
        let model = tinyModelWithOutliers()
        let c = model.config
        let sequences = randomSequences(count: 4, length: 24, vocabulary: c.vocabSize, seed: 2)
        let observers = ModelObservers(config: c)
        try observers.run(model: model, sequences: sequences)
        for alpha: Float in [0.3, 0.5, 0.85] {
            let factors = smoothingFactors(model: model, observers: observers, smoothing: .alpha(alpha),
                                           weights: .perChannel, activations: .dynamic, calibrator: .minMax)
            XCTAssertEqual(factors.count, c.layerCount * smoothableInputs.count)
            // The factors really move scale (else the test could not fail).
            let spread = factors.flatMap(\.scales).reduce((Float.infinity, Float(0))) { (min($0.0, $1), max($0.1, $1)) }
            XCTAssertGreaterThan(spread.1 / spread.0, 4, "α \(alpha)")
            let smoothed = copyModel(model)
            applySmoothing(smoothed, factors)
            XCTAssertNotEqual(smoothed.weights.layers[0].attnNorm.array, model.weights.layers[0].attnNorm.array)
            for sequence in sequences.prefix(2) {
                let expected = try batchedLogits(model, sequence)
                let actual = try batchedLogits(smoothed, sequence)
                let scale = expected.map(abs).max()!
                let report = mismatches(actual, expected, tolerance: Tolerance.fp32Model, relativeTo: scale)
                XCTAssertEqual(report, "", "α \(alpha)")
            }
        }
    }

    func testSmoothingFlattensTheOutlierChannels() throws {
        let model = tinyModelWithOutliers()
        let c = model.config
        let sequences = randomSequences(count: 4, length: 24, vocabulary: c.vocabSize, seed: 3)
        let before = ModelObservers(config: c)
        try before.run(model: model, sequences: sequences)
        let factors = smoothingFactors(model: model, observers: before, smoothing: .alpha(0.5),
                                       weights: .perChannel, activations: .dynamic, calibrator: .minMax)
        let smoothed = copyModel(model)
        applySmoothing(smoothed, factors)
        let after = ModelObservers(config: c)
        try after.run(model: smoothed, sequences: sequences)
        func peakToMean(_ o: InputObserver) -> Float { o.channelAbsMax.max()! / (o.channelAbsMax.reduce(0, +) / Float(o.width)) }
        for l in 0..<c.layerCount {
            for input in [LlamaSession.MatmulInput.attentionInput, .mlpInput] {
                XCTAssertLessThan(peakToMean(after[l, input]), 0.5 * peakToMean(before[l, input]), "layer \(l) \(input)")
            }
        }
    }

    func testSearchPicksFactorsThatDoNotIncreaseTheCalibrationLoss() throws {
        let model = tinyModelWithOutliers()
        let c = model.config
        let sequences = randomSequences(count: 4, length: 32, vocabulary: c.vocabSize, seed: 4)
        let observers = ModelObservers(config: c, sampleCap: 64, sampleEvery: 2)
        try observers.run(model: model, sequences: sequences)
        let factors = smoothingFactors(model: model, observers: observers, smoothing: .search(Smoothing.defaultGrid),
                                       weights: .perChannel, activations: .dynamic, calibrator: .minMax)
        var improved = 0
        for f in factors {
            let input = LlamaSession.MatmulInput(rawValue: f.input)!
            let o = observers[f.layer, input]
            let matrices = consumers(model.weights.layers[f.layer], c, input)
            let none = quantizedOutputError(samples: o.samples, width: o.width, matrices: matrices, scales: nil,
                                            weights: .perChannel, activations: .dynamic, calibrator: .minMax, pool: nil)
            let chosen = quantizedOutputError(samples: o.samples, width: o.width, matrices: matrices, scales: f.scales,
                                              weights: .perChannel, activations: .dynamic, calibrator: .minMax, pool: nil)
            XCTAssertLessThanOrEqual(chosen, none * (1 + 1e-9), "layer \(f.layer) \(f.input)")
            if f.alpha != nil && chosen < none { improved += 1 }
        }
        XCTAssertGreaterThan(improved, 0, "the outlier channels should make smoothing worthwhile somewhere")
    }
}
