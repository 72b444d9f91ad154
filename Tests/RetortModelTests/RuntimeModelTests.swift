import RetortModel
import RetortRuntime
import RetortTestSupport
import XCTest

/// RetortRuntime against the host FP32 model on tiny synthetic models written as .rtm.
final class RuntimeModelTests: XCTestCase {
    let tokens: [Int32] = [3, 17, 42, 0, 9, 9, 31, 5, 47, 12, 1, 20, 33]

    private func runtime(_ model: LlamaModel, _ weights: RTMWeightFormat, groupSize: Int? = nil) throws -> RuntimeModel {
        let bytes = makeRTM(model: model, tokenizer: TinyModels.tokenizer(), weights: weights, groupSize: groupSize).serialize()
        return try RuntimeModel(file: try RTMFile(bytes: bytes, name: "tiny-\(weights).rtm"))
    }

    private func runtimeLogits(_ model: RuntimeModel, _ tokens: [Int32], threads: Int = 2) throws -> [Float] {
        let session = RuntimeSession(model: model, capacity: 48, maxBatch: 48, allLogits: true, pool: ThreadPool(threads: threads))
        return try withExtendedLifetime(session) { Array(try session.forward(tokens, logits: .all)) }
    }

    func testF32MatchesHostModel() throws {
        let host = TinyModels.random(TinyModels.runtimeConfig, seed: 21)
        let expected = try batchedLogits(host, tokens, capacity: 32)
        let rt = try runtime(host, .f32)
        for threads in [1, 2, 3] {
            let report = mismatches(try runtimeLogits(rt, tokens, threads: threads), expected, tolerance: Tolerance.fp32Kernel)
            XCTAssert(report.isEmpty, "threads \(threads): \(report)")
        }
    }

    /// Work split over threads (matmul columns, attention tasks, row blocks of element-wise steps)
    /// never changes a result: a 40-token prefill is bit-identical on 1 and 3 threads.
    func testThreadCountDoesNotChangeResults() throws {
        let host = TinyModels.random(TinyModels.runtimeConfig, seed: 27)
        let long: [Int32] = (0..<40).map { Int32(($0 * 11 + 5) % 48) }
        for weights in [RTMWeightFormat.f32, .int8] {
            let rt = try runtime(host, weights)
            let one = try runtimeLogits(rt, long, threads: 1)
            XCTAssertEqual(try runtimeLogits(rt, long, threads: 3), one, "\(weights)")
            let report = mismatches(one, try batchedLogits(host, long, capacity: 48), tolerance: weights == .f32 ? Tolerance.fp32Kernel : 0.1,
                                    relativeTo: weights == .f32 ? 1 : 10)
            XCTAssert(report.isEmpty, "\(weights): \(report)")
        }
    }

    func testIncrementalDecodeMatchesBatch() throws {
        let host = TinyModels.random(TinyModels.runtimeConfig, seed: 22)
        let rt = try runtime(host, .int8)
        let v = rt.config.vocabSize
        let batched = try runtimeLogits(rt, tokens)
        let session = RuntimeSession(model: rt, capacity: 32, maxBatch: 4, pool: ThreadPool(threads: 2))
        try session.forward(Array(tokens[0..<4]), logits: .none)
        for t in 4..<tokens.count {
            let row = Array(try session.forward([tokens[t]], logits: .last))
            let report = mismatches(row, Array(batched[t * v ..< (t + 1) * v]), tolerance: Tolerance.fp32Kernel)
            XCTAssert(report.isEmpty, "position \(t): \(report)")
        }
        XCTAssertEqual(session.position, tokens.count)
    }

    func testGreedyTokensMatchHostForF32() throws {
        let host = TinyModels.random(TinyModels.runtimeConfig, seed: 23, scale: 0.8)
        let prompt: [Int32] = [5, 6, 7]
        let (hostTokens, _) = try generate(model: host, prompt: prompt,
                                           options: GenerationOptions(maxTokens: 24, sampler: .greedy, stopAtEndOfGeneration: false),
                                           isEndOfGeneration: { _ in false }, onToken: { _ in true })
        let rt = try runtime(host, .f32)
        let session = RuntimeSession(model: rt, capacity: 32, maxBatch: 8, pool: ThreadPool(threads: 2))
        var runtimeTokens: [Int32] = []
        _ = try session.generate(prompt: prompt, maxTokens: 24, sampler: .greedy, stopAtEndOfGeneration: false) {
            runtimeTokens.append($0)
            return true
        }
        XCTAssertEqual(runtimeTokens, hostTokens)
    }

    func testInt8AndF16StayClose() throws {
        let host = TinyModels.random(TinyModels.runtimeConfig, seed: 24)
        let expected = try batchedLogits(host, tokens, capacity: 32)
        let scale = expected.map(abs).max()!
        // f16 weights: half-precision rounding (2⁻¹¹ relative) through two random layers.
        let f16Logits = try runtimeLogits(try runtime(host, .f16), tokens)
        let f16 = mismatches(f16Logits, expected, tolerance: 5e-3, relativeTo: scale)
        XCTAssert(f16.isEmpty, "f16: \(f16)")
        // Absmax int8 weights and per-token int8 activations: mean error under 2% of the logit
        // range, worst element under 10%.
        let int8Logits = try runtimeLogits(try runtime(host, .int8), tokens)
        let int8 = mismatches(int8Logits, expected, tolerance: 0.1, relativeTo: scale)
        XCTAssert(int8.isEmpty, "int8: \(int8)")
        let meanError = zip(int8Logits, expected).map { abs($0 - $1) }.reduce(0, +) / Float(expected.count)
        XCTAssertLessThan(meanError, 0.02 * scale)
        // Per-group scales (32 inputs a group) are finer than per-row ones: no worse on average.
        let grouped = try runtimeLogits(try runtime(host, .int8, groupSize: 32), tokens)
        let groupedError = zip(grouped, expected).map { abs($0 - $1) }.reduce(0, +) / Float(expected.count)
        XCTAssertLessThan(groupedError, meanError * 1.05, "grouped \(groupedError) vs per-channel \(meanError)")
    }

    /// Two-digit activations (activation + residual, each per-token int8) remove nearly all of the
    /// activation error: the runtime then matches an f32 model built from the same dequantized
    /// int8 weights (q·s) far more closely than W8A8 does, for per-channel and per-group weights,
    /// prefill (row blocks of 16) and decode alike.
    func testTwoDigitActivationsMatchDequantizedWeights() throws {
        let host = TinyModels.random(TinyModels.runtimeConfig, seed: 26)
        let long: [Int32] = (0..<40).map { Int32(($0 * 7 + 3) % 48) }
        for groupSize in [nil, 32] {
            let one = try runtime(host, .int8, groupSize: groupSize)
            let twoBytes = makeRTM(model: host, tokenizer: TinyModels.tokenizer(), weights: .int8, groupSize: groupSize,
                                   activationDigits: 2).serialize()
            let two = try RuntimeModel(file: try RTMFile(bytes: twoBytes, name: "tiny-two-digit.rtm"))
            XCTAssertTrue(two.matrices.allSatisfy { $0.activationDigits == 2 })
            // The f32 model the int8 weights stand for.
            let dequantized = try LlamaModel.load(rtm: one.file)
            let expected = try batchedLogits(dequantized, long, capacity: 48)
            let scale = expected.map(abs).max()!
            func meanError(_ a: [Float]) -> Float { zip(a, expected).map { abs($0 - $1) }.reduce(0, +) / Float(a.count) }
            let oneError = meanError(try runtimeLogits(one, long))
            let twoLogits = try runtimeLogits(two, long)
            let twoError = meanError(twoLogits)
            let report = mismatches(twoLogits, expected, tolerance: Tolerance.twoDigitActivations, relativeTo: scale)
            XCTAssert(report.isEmpty, "group \(groupSize ?? 0): \(report)")
            XCTAssertLessThan(twoError, oneError / 20, "group \(groupSize ?? 0): two digits \(twoError), one digit \(oneError)")
            let v = two.config.vocabSize
            // A prefill session without all logits (the head sees one row): the last row.
            let prefill = RuntimeSession(model: two, capacity: 48, maxBatch: 40, pool: ThreadPool(threads: 2))
            let last = Array(try prefill.forward(long, logits: .last))
            let lastReport = mismatches(last, Array(expected[(long.count - 1) * v ..< long.count * v]),
                                        tolerance: Tolerance.twoDigitActivations, relativeTo: scale)
            XCTAssert(lastReport.isEmpty, "prefill, last row: \(lastReport)")
            // Decode (one row at a time) meets the same bound.
            let session = RuntimeSession(model: two, capacity: 48, maxBatch: 1, pool: ThreadPool(threads: 2))
            for t in 0..<long.count {
                let row = Array(try session.forward([long[t]], logits: .last))
                let r = mismatches(row, Array(expected[t * v ..< (t + 1) * v]), tolerance: Tolerance.twoDigitActivations, relativeTo: scale)
                XCTAssert(r.isEmpty, "decode position \(t): \(r)")
            }
        }
    }

    /// The runtime builds its tokenizer straight from the file's metadata; it is the tokenizer the
    /// definition builds.
    func testTokenizerFromRTMEqualsDefinition() throws {
        let host = TinyModels.random(TinyModels.runtimeConfig, seed: 28)
        let file = try RTMFile(bytes: makeRTM(model: host, tokenizer: TinyModels.tokenizer(), weights: .f32).serialize())
        let direct = try BPETokenizer(rtm: file)
        let viaDefinition = try TokenizerDefinition(rtm: file).makeTokenizer()
        XCTAssertEqual(direct.vocabularySize, viaDefinition.vocabularySize)
        for text in ["", "hello world", "a  b\n\tc", "ünïcödé 123", String(repeating: "ab ", count: 50)] {
            XCTAssertEqual(direct.encode(text, addSpecial: true), viaDefinition.encode(text, addSpecial: true), text)
        }
        for id in 0..<Int32(direct.vocabularySize) {
            XCTAssertEqual(direct.tokenText(id), viaDefinition.tokenText(id))
            XCTAssertEqual(direct.pieceBytes(id), viaDefinition.pieceBytes(id))
        }
    }

    func testRTMRoundTripIntoHostIsExact() throws {
        let host = TinyModels.random(TinyModels.runtimeConfig, seed: 25)
        let bytes = makeRTM(model: host, tokenizer: TinyModels.tokenizer(), weights: .f32).serialize()
        let back = try LlamaModel.load(rtm: try RTMFile(bytes: bytes))
        XCTAssertEqual(back.config, host.config)
        for (a, b) in zip(host.tensorTable, back.tensorTable) { XCTAssertEqual(a.buffer.array, b.buffer.array, a.name) }
        XCTAssertEqual(try TokenizerDefinition(rtm: try RTMFile(bytes: bytes)), TinyModels.tokenizer())
    }

    func testBadFilesAreNamed() throws {
        let host = TinyModels.random(TinyModels.runtimeConfig, seed: 26)
        var writer = makeRTM(model: host, tokenizer: TinyModels.tokenizer(size: 40), weights: .f32)
        XCTAssertThrowsError(try RuntimeModel(file: try RTMFile(bytes: writer.serialize()))) {
            XCTAssertTrue("\($0)".contains("tokenizer.tokens"), "\($0)")
        }
        writer = makeRTM(model: host, tokenizer: TinyModels.tokenizer(), weights: .f32)
        writer.set("llama.attention.head_count_kv", .int(3))
        XCTAssertThrowsError(try RuntimeModel(file: try RTMFile(bytes: writer.serialize()))) {
            XCTAssertTrue("\($0)".contains("head_count_kv"), "\($0)")
        }
        writer = makeRTM(model: host, tokenizer: TinyModels.tokenizer(), weights: .f32)
        writer.set("llama.feed_forward_length", .int(64))
        XCTAssertThrowsError(try RuntimeModel(file: try RTMFile(bytes: writer.serialize()))) {
            XCTAssertTrue("\($0)".contains("ffn_gate.weight"), "\($0)")
        }
        let session = RuntimeSession(model: try runtime(host, .f32), capacity: 8, maxBatch: 4, pool: ThreadPool(threads: 1))
        XCTAssertThrowsError(try session.forward([1, 2, 3, 4, 5])) { XCTAssertTrue("\($0)".contains("maxBatch"), "\($0)") }
        XCTAssertThrowsError(try session.forward([1, 48])) { XCTAssertTrue("\($0)".contains("tokens[1]"), "\($0)") }
        XCTAssertThrowsError(try session.forward([1, 2], logits: .all)) { XCTAssertTrue("\($0)".contains("allLogits"), "\($0)") }
    }
}
