import Foundation
import RetortImport
import RetortModel
import RetortRuntime
import RetortTestSupport
import XCTest

/// The real teacher (SmolLM2-135M-Instruct, Q4_1 GGUF) through the host model.
final class TeacherIntegrationTests: XCTestCase {
    nonisolated(unsafe) static var cached: (LlamaModel, BPETokenizer)?

    private func teacher() throws -> (LlamaModel, BPETokenizer) {
        if let cached = Self.cached { return cached }
        let file = try GGUFFile.open(path: try TestInputs.requireTeacher())
        let loaded = (try LlamaModel.load(gguf: file), try BPETokenizer.load(gguf: file))
        Self.cached = loaded
        return loaded
    }

    func testConfigFromMetadata() throws {
        let (model, tokenizer) = try teacher()
        let c = model.config
        XCTAssertEqual([c.layerCount, c.dim, c.headCount, c.kvHeadCount, c.headDim, c.ffnDim, c.vocabSize],
                       [30, 576, 9, 3, 64, 1536, 49152])
        XCTAssertEqual(c.ropeBase, 100_000)
        XCTAssertTrue(c.tiedEmbeddings)
        XCTAssertEqual(c.parameterCount, 134_515_008)
        XCTAssertEqual(tokenizer.vocabularySize, 49152)
    }

    /// Greedy continuation of a factual prompt; token ids of the prompt are llama-tokenize's.
    func testGreedyGenerationIsCoherent() throws {
        let (model, tokenizer) = try teacher()
        let prompt: [Int32] = [504, 3575, 282, 4649, 314]     // "The capital of France is"
        XCTAssertEqual(tokenizer.encode("The capital of France is"), prompt)
        let (ids, _) = try generate(model: model, prompt: prompt,
                                    options: GenerationOptions(maxTokens: 8, sampler: .greedy),
                                    isEndOfGeneration: tokenizer.isEndOfGeneration, onToken: { _ in true })
        let text = String(decoding: tokenizer.decode(ids), as: UTF8.self)
        XCTAssertTrue(text.contains("Paris"), "greedy continuation: \(text)")
    }

    /// Prefill + incremental decode through the KV cache agree with one batched pass on the real model.
    func testIncrementalDecodeMatchesBatchOnTeacher() throws {
        let (model, tokenizer) = try teacher()
        let tokens = tokenizer.encode("Shall I compare thee to a summer's day? Thou art more lovely")
        let v = model.config.vocabSize
        let batched = try batchedLogits(model, tokens, capacity: 64, which: .all)
        let session = LlamaSession(model: model, capacity: 64, maxBatch: 8)
        try session.forward(Array(tokens[0..<8]), logits: .none)
        for t in 8..<tokens.count {
            let row = Array(try session.forward([tokens[t]], logits: .last))
            let report = mismatches(row, Array(batched[t * v ..< (t + 1) * v]), tolerance: Tolerance.fp32Model, relativeTo: 10)
            XCTAssert(report.isEmpty, "position \(t): \(report)")
            let reference = Array(batched[t * v ..< (t + 1) * v])
            XCTAssertEqual(row.withUnsafeBufferPointer(Sampler.argmax), reference.withUnsafeBufferPointer(Sampler.argmax))
        }
        withExtendedLifetime(session) {}
    }

    /// Perplexity on the first 2,048 tokens of the held-out test split stays in the range the
    /// full-split measurement gives (README); a broken RoPE or norm sends it into the thousands.
    func testTestSplitPerplexityIsSane() throws {
        let (model, tokenizer) = try teacher()
        let text = try String(contentsOfFile: try TestInputs.requireSplit("test"), encoding: .utf8)
        let tokens = tokenizer.encode(String(text.prefix(12_000)))
        let result = try evaluatePerplexity(model: model, tokens: tokens, bos: nil,
                                            options: PerplexityOptions(context: 512, maxTokens: 2048))
        XCTAssertEqual(result.scoredTokens, min(tokens.count, 2048) - 1)
        XCTAssert(result.perplexity > 5 && result.perplexity < 60, "perplexity \(result.perplexity)")
    }

    /// Greedy decoding of the FP32 teacher through RetortRuntime gives the host model's tokens;
    /// the absmax INT8 teacher stays coherent (its continuation names Paris too).
    func testRuntimeGreedyMatchesHostOnTeacher() throws {
        let (model, _) = try teacher()
        let file = try GGUFFile.open(path: try TestInputs.requireTeacher())
        let definition = try TokenizerDefinition(gguf: file)
        let prompt: [Int32] = [504, 3575, 282, 4649, 314]     // "The capital of France is"
        let (hostTokens, _) = try generate(model: model, prompt: prompt,
                                           options: GenerationOptions(maxTokens: 12, sampler: .greedy, stopAtEndOfGeneration: false),
                                           isEndOfGeneration: { _ in false }, onToken: { _ in true })
        let pool = ThreadPool(threads: 2)
        for weights in [RTMWeightFormat.f32, .int8] {
            let rtm = try RTMFile(bytes: makeRTM(model: model, tokenizer: definition, weights: weights).serialize(),
                                  name: "teacher-\(weights).rtm", verifyTensorChecksums: false)
            let runtime = try RuntimeModel(file: rtm)
            let session = RuntimeSession(model: runtime, capacity: 32, maxBatch: 8, pool: pool)
            var tokens: [Int32] = []
            _ = try session.generate(prompt: prompt, maxTokens: 12, sampler: .greedy, stopAtEndOfGeneration: false) {
                tokens.append($0)
                return true
            }
            let text = String(decoding: runtime.tokenizer.decode(tokens), as: UTF8.self)
            if weights == .f32 {
                XCTAssertEqual(tokens, hostTokens, "runtime f32: \(text)")
            } else {
                XCTAssertTrue(text.contains("Paris"), "runtime int8: \(text)")
            }
        }
    }
}
