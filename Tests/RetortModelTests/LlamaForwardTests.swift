import RetortModel
import RetortTestSupport
import XCTest

final class LlamaForwardTests: XCTestCase {
    let tokens: [Int32] = [3, 17, 42, 0, 9, 9, 31, 5, 47, 12, 1]

    func testBatchedForwardMatchesReference() throws {
        let model = TinyModels.random()
        let expected = referenceLlamaLogits(model, tokens: tokens)
        let logits = try batchedLogits(model, tokens, capacity: 32)
        let v = model.config.vocabSize
        for t in tokens.indices {
            let row = Array(logits[t * v ..< (t + 1) * v])
            let report = mismatches(row, expected[t], tolerance: Tolerance.fp32Kernel)
            XCTAssert(report.isEmpty, "position \(t): \(report)")
        }
    }

    func testIncrementalDecodeMatchesBatchedForward() throws {
        let model = TinyModels.random(seed: 7)
        let v = model.config.vocabSize
        let batched = try batchedLogits(model, tokens, capacity: 32, which: .all)
        // Prefill 4 tokens, then decode one at a time through the KV cache.
        let session = LlamaSession(model: model, capacity: 32, maxBatch: 4)
        var rows: [[Float]] = []
        let first = Array(try session.forward(Array(tokens[0..<4]), logits: .all))
        for t in 0..<4 { rows.append(Array(first[t * v ..< (t + 1) * v])) }
        for t in 4..<tokens.count { rows.append(Array(try session.forward([tokens[t]], logits: .last))) }
        for t in tokens.indices {
            let report = mismatches(rows[t], Array(batched[t * v ..< (t + 1) * v]), tolerance: Tolerance.fp32Kernel)
            XCTAssert(report.isEmpty, "position \(t): \(report)")
        }
        XCTAssertEqual(session.position, tokens.count)   // also keeps the session alive past the copies
    }

    func testLastLogitsEqualLastRowOfAll() throws {
        let model = TinyModels.random(seed: 3)
        let v = model.config.vocabSize
        let all = try batchedLogits(model, tokens, capacity: 16, which: .all)
        let last = try batchedLogits(model, tokens, capacity: 16, which: .last)
        XCTAssert(mismatches(last, Array(all[(tokens.count - 1) * v ..< tokens.count * v]), tolerance: 1e-5).isEmpty)
    }

    func testUntiedOutputAndSingleKVHead() throws {
        var config = TinyModels.config
        config.tiedEmbeddings = false
        config.kvHeadCount = 1
        let model = TinyModels.random(config, seed: 11)
        XCTAssertFalse(model.weights.output === model.weights.tokenEmbedding)
        let expected = referenceLlamaLogits(model, tokens: tokens)
        let logits = try batchedLogits(model, tokens, capacity: 32, which: .all)
        let v = config.vocabSize
        for t in tokens.indices {
            XCTAssert(mismatches(Array(logits[t * v ..< (t + 1) * v]), expected[t], tolerance: Tolerance.fp32Kernel).isEmpty)
        }
    }

    /// Restarting at block l from the stream `forward` had entering it gives `forward`'s logits bit
    /// for bit, for every l (L: the head alone); the residual observer sees each block's output.
    func testForwardFromLayerReusesTheStream() throws {
        let model = TinyModels.random(seed: 31)
        let c = model.config, d = c.dim
        let tokens: [Int32] = [4, 8, 15, 16, 23, 42, 7]
        let session = LlamaSession(model: model, capacity: 16)
        var streams: [[Float]] = [tokens.flatMap { t in Array(UnsafeBufferPointer(start: model.weights.tokenEmbedding.pointer + Int(t) * d, count: d)) }]
        session.residualObserver = { layer, values, rows, width in
            XCTAssertEqual(layer, streams.count - 1)
            streams.append(Array(UnsafeBufferPointer(start: values, count: rows * width)))
        }
        let expected = Array(try session.forward(tokens))
        session.residualObserver = nil
        XCTAssertEqual(streams.count, c.layerCount + 1)
        for l in 0...c.layerCount {
            session.reset()
            let logits = try streams[l].withUnsafeBufferPointer { try session.forward(residual: $0.baseAddress!, rows: tokens.count, fromLayer: l) }
            XCTAssertEqual(Array(logits), expected, "from block \(l)")
        }
        session.reset()
        XCTAssertThrowsError(try streams[0].withUnsafeBufferPointer {
            try session.forward(residual: $0.baseAddress!, rows: tokens.count, fromLayer: c.layerCount + 1)
        })
    }

    func testRejectsBadBatches() throws {
        let model = TinyModels.random()
        let session = LlamaSession(model: model, capacity: 8, maxBatch: 4)
        XCTAssertThrowsError(try session.forward([1, 2, 3, 4, 5])) { XCTAssertTrue("\($0)".contains("maxBatch")) }
        XCTAssertThrowsError(try session.forward([1, 99])) { XCTAssertTrue("\($0)".contains("tokens[1]")) }
        try session.forward([1, 2, 3, 4], logits: .none)
        try session.forward([1, 2, 3, 4], logits: .none)
        XCTAssertThrowsError(try session.forward([1])) { XCTAssertTrue("\($0)".contains("capacity")) }
        session.reset()
        XCTAssertNoThrow(try session.forward([1]))
    }

    func testParameterCount() {
        let c = TinyModels.config
        let model = LlamaModel(config: c)
        let counted = model.tensorTable.reduce(0) { $0 + $1.buffer.count }
        XCTAssertEqual(c.parameterCount, counted)
    }
}
