import RetortModel
import RetortRuntime
import RetortTestSupport
import XCTest
@testable import RetortQuantize

final class QuantizePipelineTests: XCTestCase {
    func quantizedModel(_ options: QuantizationOptions) throws -> (LlamaModel, RTMWriter, [[Int32]]) {
        let model = tinyModelWithOutliers(TinyModels.runtimeConfig, seed: 21)
        let sequences = randomSequences(count: 6, length: 32, vocabulary: model.config.vocabSize, seed: 5)
        let calibrated = try calibrate(model: model, sequences: sequences, options: options)
        return (model, makeQuantizedRTM(calibrated, tokenizer: TinyModels.tokenizer(), options: options), sequences)
    }

    func testStaticRecipeWritesScalesAndRunsOnTheRuntime() throws {
        var options = QuantizationOptions()
        options.activations = .static
        options.calibrator = .mse
        options.weights = .perGroup(32)
        options.smoothing = .search(Smoothing.defaultGrid)
        options.keepFP = ["blk.1.ffn_down.weight"]
        let (model, writer, _) = try quantizedModel(options)
        let runtime = try runtimeModel(writer, name: "tiny")
        let file = runtime.file
        let q = try XCTUnwrap(file.tensor(named: "blk.0.attn_q.weight"))
        XCTAssertEqual(q.dtype, .int8PerGroup)
        XCTAssertEqual(q.groupSize, 32)
        XCTAssertGreaterThan(q.activationScale, 0)
        XCTAssertEqual(file.tensor(named: "blk.1.ffn_down.weight")?.dtype, .f16)
        XCTAssertEqual(file.tensor(named: "blk.0.attn_norm.weight")?.dtype, .f32)
        XCTAssertGreaterThan(try XCTUnwrap(file.tensor(named: "token_embd.weight")).activationScale, 0)

        let pool = ThreadPool(threads: 2)
        let tokens = randomSequences(count: 1, length: 128, vocabulary: model.config.vocabSize, seed: 9)[0]
        let result = try evaluateOnRuntime(reference: model, candidate: runtime, tokens: tokens, bos: nil,
                                           options: PerplexityOptions(context: 64), pool: pool, source: "tiny")
        XCTAssertTrue(result.meanKL.isFinite && result.candidate.perplexity.isFinite)
        // Static per-tensor scales on a random model with 25–30× outlier channels: small, not tiny.
        XCTAssertLessThan(result.meanKL, 0.15)
        XCTAssertGreaterThan(result.top1Agreement, 0.7)
        // The cached-reference path gives the same comparison.
        let cached = try CachedReference(model: model, tokens: tokens, bos: nil, options: PerplexityOptions(context: 64))
        let again = try cached.compare(runtime, pool: pool)
        XCTAssertEqual(again.meanKL, result.meanKL, accuracy: 1e-9)
    }

    func testDynamicRecipeStoresNoActivationScale() throws {
        var options = QuantizationOptions()
        options.smoothing = .alpha(0.5)
        let (_, writer, _) = try quantizedModel(options)
        let file = try runtimeModel(writer, name: "tiny").file
        for name in ["blk.0.attn_q.weight", "blk.1.ffn_down.weight", "token_embd.weight"] {
            let t = try XCTUnwrap(file.tensor(named: name))
            XCTAssertEqual(t.dtype, .int8PerChannel, name)
            XCTAssertEqual(t.activationScale, 0, name)
        }
    }

    /// Two-digit activations: recorded per tensor (static scales dropped for them), their inputs
    /// left unsmoothed, and the file runs closer to FP32 than plain W8A8 on outlier activations.
    func testTwoDigitTensorsAreUnsmoothedAndCloser() throws {
        let model = tinyModelWithOutliers(TinyModels.runtimeConfig, seed: 21)
        let sequences = randomSequences(count: 6, length: 32, vocabulary: model.config.vocabSize, seed: 5)
        let tokens = randomSequences(count: 1, length: 128, vocabulary: model.config.vocabSize, seed: 9)[0]
        let pool = ThreadPool(threads: 2)
        func run(_ twoDigit: [String]) throws -> (CalibratedModel, RTMFile, Double) {
            var options = QuantizationOptions()
            options.activations = .static
            options.smoothing = .alpha(0.5)
            options.twoDigit = twoDigit
            let calibrated = try calibrate(model: model, sequences: sequences, options: options)
            let runtime = try runtimeModel(makeQuantizedRTM(calibrated, tokenizer: TinyModels.tokenizer(), options: options), name: "tiny")
            let r = try evaluateOnRuntime(reference: model, candidate: runtime, tokens: tokens, bos: nil,
                                          options: PerplexityOptions(context: 64), pool: pool, source: "tiny")
            return (calibrated, runtime.file, r.meanKL)
        }
        let block0 = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"].map { "blk.0.\($0).weight" }
        let (plain, _, plainKL) = try run([])
        let (two, file, twoKL) = try run(block0 + ["token_embd.weight"])
        XCTAssertTrue(plain.smoothing.contains { $0.layer == 0 })
        XCTAssertFalse(two.smoothing.contains { $0.layer == 0 }, "block 0's inputs feed only two-digit matrices")
        XCTAssertEqual(two.smoothing.filter { $0.layer == 1 }.count, plain.smoothing.filter { $0.layer == 1 }.count)
        for name in block0 + ["token_embd.weight"] {
            let t = try XCTUnwrap(file.tensor(named: name))
            XCTAssertEqual(t.activationDigits, 2, name)
            XCTAssertEqual(t.activationScale, 0, name)
        }
        XCTAssertEqual(file.tensor(named: "blk.1.attn_q.weight")?.activationDigits, 1)
        XCTAssertGreaterThan(try XCTUnwrap(file.tensor(named: "blk.1.attn_q.weight")).activationScale, 0)
        XCTAssertLessThan(twoKL, plainKL)
    }

    func testSensitivityRisesForAMatrixThatQuantizesBadly() throws {
        let sequences = randomSequences(count: 2, length: 64, vocabulary: TinyModels.runtimeConfig.vocabSize, seed: 6)
        func sensitivity(damaged: Bool) throws -> [SensitivityEntry] {
            let model = TinyModels.random(TinyModels.runtimeConfig, seed: 23)
            // MLP channel 0 is dead (its `up` row is zero), so W_down's column 0 never matters in
            // FP32; a large value there makes every row's per-channel scale coarse.
            let c = model.config, layer = model.weights.layers[0]
            for i in 0..<c.dim { layer.wUp[i] = 0 }
            if damaged { for r in 0..<c.dim { layer.wDown[r * c.ffnDim] = 40 } }
            let options = QuantizationOptions()
            let calibrated = try calibrate(model: model, sequences: sequences, options: options)
            let reference = try CachedReference(model: model, tokens: Array(sequences.joined()), bos: nil,
                                                options: PerplexityOptions(context: 64))
            return try measureSensitivity(calibrated, tokenizer: TinyModels.tokenizer(), options: options, reference: reference,
                                          units: sensitivityUnits(model, granularity: .matrix), pool: ThreadPool(threads: 1))
        }
        let plain = try sensitivity(damaged: false), damaged = try sensitivity(damaged: true)
        XCTAssertEqual(plain.count, 15)
        XCTAssertTrue(plain.allSatisfy { $0.meanKL.isFinite && $0.meanKL >= 0 })
        XCTAssertEqual(plain.map(\.meanKL), plain.map(\.meanKL).sorted(by: >), "most sensitive first")
        let name = "blk.0.ffn_down.weight"
        let before = try XCTUnwrap(plain.first { $0.unit == name }).meanKL
        let after = try XCTUnwrap(damaged.first { $0.unit == name }).meanKL
        XCTAssertGreaterThan(after, 10 * before)
    }

    func testRecipeParsingAndSeededDraws() throws {
        let recipe = try CalibrationRecipe(parsing: "# comment\ntext = train\nsequences = 3 # three\nlength = 4\nseed = 7\n", file: "r")
        XCTAssertEqual(recipe, CalibrationRecipe(text: "train", sequences: 3, length: 4, seed: 7))
        XCTAssertThrowsError(try CalibrationRecipe(parsing: "length = -1", file: "r"))
        XCTAssertThrowsError(try CalibrationRecipe(parsing: "colour = red", file: "r"))
        let tokens = (0..<100).map(Int32.init)
        let a = try drawCalibrationSequences(tokens: tokens, recipe: recipe, source: "t")
        let b = try drawCalibrationSequences(tokens: tokens, recipe: recipe, source: "t")
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.count, 3)
        XCTAssertEqual(Set(a.map { $0[0] }).count, 3, "disjoint windows")
        for s in a { XCTAssertEqual(s, Array(s[0] ..< s[0] + 4)) }
        XCTAssertThrowsError(try drawCalibrationSequences(tokens: [1, 2], recipe: recipe, source: "t"))
    }
}
