import Foundation
import RetortImport
import RetortModel
import RetortRuntime
import RetortTestSupport
import RetortTrain
import XCTest

/// Student construction: shapes, importance, plans and the copy of the teacher's slices.
final class PruningTests: XCTestCase {
    /// L=4, D=32, H=4, G=2, E=8, F=48, V=48: large enough to prune every dimension.
    static func teacherConfig(tied: Bool = true) -> LlamaConfig {
        LlamaConfig(vocabSize: 48, dim: 32, layerCount: 4, headCount: 4, kvHeadCount: 2, headDim: 8, ffnDim: 48,
                    ropeBase: 10_000, normEpsilon: 1e-5, contextLength: 64, tiedEmbeddings: tied)
    }

    /// SmolLM2-135M's shape (no weights needed for counting).
    static let smolLM2 = LlamaConfig(vocabSize: 49_152, dim: 576, layerCount: 30, headCount: 9, kvHeadCount: 3,
                                     headDim: 64, ffnDim: 1536, ropeBase: 100_000, contextLength: 8192)

    static func calibration(count: Int = 3, length: Int = 16, vocab: Int = 48, seed: UInt64 = 7) -> [[Int32]] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in (0..<length).map { _ in Int32(rng.next() % UInt64(vocab)) } }
    }

    private func field(of body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as PruningError {
            return error.field
        } catch {
            return "unexpected \(error)"
        }
    }

    // MARK: Shapes

    func testShapeParsingAndPresets() throws {
        XCTAssertEqual(try StudentShape.parse("small"), StudentShape.default)
        XCTAssertEqual(try StudentShape.parse(" ffn=1024, kv-heads=2,heads=6,dim=384,layers=12 "),
                       StudentShape(layers: 12, dim: 384, heads: 6, kvHeads: 2, ffn: 1024))
        XCTAssertEqual(try StudentShape.parse(StudentShape.default.description), StudentShape.default)
        XCTAssertEqual(field { _ = try StudentShape.parse("layers=12,dim=abc,heads=6,kv-heads=2,ffn=1024") }, "dim")
        XCTAssertEqual(field { _ = try StudentShape.parse("layers=12,dim=384,heads=6,kv-heads=2") }, "ffn")
        XCTAssertEqual(field { _ = try StudentShape.parse("layers=12,depth=3") }, "depth")
        XCTAssertEqual(field { _ = try StudentShape.parse("layers=12,layers=3") }, "layers")
        XCTAssertEqual(field { _ = try StudentShape.parse("layers=0,dim=384,heads=6,kv-heads=2,ffn=1024") }, "layers")
        XCTAssertEqual(field { _ = try StudentShape.parse("heads") }, "preset")
        XCTAssertEqual(field { _ = try StudentShape.parse("layers=12,kv-heads,dim=1") }, "kv-heads")
    }

    func testShapeValidationNamesTheField() {
        let t = Self.smolLM2
        func validate(_ s: StudentShape) -> String? { field { try s.validate(teacher: t) } }
        XCTAssertNil(validate(StudentShape.default))
        XCTAssertNil(validate(StudentShape(t)))
        XCTAssertEqual(validate(StudentShape(layers: 31, dim: 384, heads: 6, kvHeads: 2, ffn: 1024)), "layers")
        XCTAssertEqual(validate(StudentShape(layers: 12, dim: 600, heads: 6, kvHeads: 2, ffn: 1024)), "dim")
        XCTAssertEqual(validate(StudentShape(layers: 12, dim: 384, heads: 10, kvHeads: 2, ffn: 1024)), "heads")
        XCTAssertEqual(validate(StudentShape(layers: 12, dim: 384, heads: 6, kvHeads: 4, ffn: 1024)), "kv-heads")
        XCTAssertEqual(validate(StudentShape(layers: 12, dim: 384, heads: 5, kvHeads: 2, ffn: 1024)), "kv-heads")
        // 8 heads over 2 kv heads is 4 per group: more than the teacher's 3.
        XCTAssertEqual(validate(StudentShape(layers: 12, dim: 384, heads: 8, kvHeads: 2, ffn: 1024)), "heads")
        XCTAssertEqual(validate(StudentShape(layers: 12, dim: 384, heads: 6, kvHeads: 2, ffn: 2000)), "ffn")
    }

    /// The preset table in StudentShape.swift and docs/DISTILLATION.md.
    func testPresetParameterCounts() {
        let t = Self.smolLM2
        XCTAssertEqual(t.parameterCount, 134_515_008)
        let expected = ["tiny": 18_354_432, "small": 37_758_336, "medium": 55_523_776, "half-depth": 81_413_568]
        XCTAssertEqual(Set(StudentShape.presets.map(\.name)), Set(expected.keys))
        for (name, shape) in StudentShape.presets {
            XCTAssertNoThrow(try shape.validate(teacher: t), name)
            XCTAssertEqual(shape.parameterCount(teacher: t), expected[name], name)
        }
        let fraction = Double(StudentShape.default.parameterCount(teacher: t)) / Double(t.parameterCount)
        XCTAssertLessThanOrEqual(fraction, 0.30, "the default student must be ≤ 30% of the teacher")
    }

    // MARK: Plans

    func testPlanPruningFollowsTheScores() throws {
        let t = Self.teacherConfig()
        let importance = TeacherImportance(
            teacher: StudentShape(t), sequences: 1, tokens: 1, depthSequences: 1, depthTokens: 1,
            layerScores: [0.5, 0.1, 0.3, 0.2],
            headScores: Array(repeating: [1, 5, 2, 2], count: 4),
            kvGroupScores: Array(repeating: [6, 4], count: 4),
            ffnScores: (0..<4).map { l in (0..<48).map { Double(($0 * 7 + l) % 48) } },
            channelScores: (0..<32).map { Double(31 - $0) })
        // s = 2: kv group 0 scores 1 + 5, group 1 scores 2 + 2.
        let a = try planPruning(importance, teacher: t, shape: StudentShape(layers: 2, dim: 20, heads: 2, kvHeads: 1, ffn: 10))
        XCTAssertEqual(a.keptLayers, [0, 2])
        XCTAssertEqual(a.keptChannels, Array(0..<20))
        XCTAssertEqual(a.keptKVHeads, [[0], [0]])
        XCTAssertEqual(a.keptHeads, [[0, 1], [0, 1]])
        for (i, l) in a.keptLayers.enumerated() {
            let expected = (0..<48).sorted { importance.ffnScores[l][$0] > importance.ffnScores[l][$1] }.prefix(10).sorted()
            XCTAssertEqual(a.keptFFN[i], expected)
        }
        XCTAssertNoThrow(try a.validate(teacher: t))
        // s = 1: each group keeps its best head (group 1's tie goes to head 2).
        let b = try planPruning(importance, teacher: t, shape: StudentShape(layers: 3, dim: 8, heads: 2, kvHeads: 2, ffn: 48))
        XCTAssertEqual(b.keptLayers, [0, 2, 3])
        XCTAssertEqual(b.keptKVHeads, Array(repeating: [0, 1], count: 3))
        XCTAssertEqual(b.keptHeads, Array(repeating: [1, 2], count: 3))
        XCTAssertEqual(b.keptFFN, Array(repeating: Array(0..<48), count: 3))
        // The full shape keeps everything.
        XCTAssertEqual(try planPruning(importance, teacher: t, shape: StudentShape(t)), .keepingEverything(t))
        // An importance record for another teacher is rejected.
        XCTAssertEqual(field { _ = try planPruning(importance, teacher: Self.smolLM2, shape: .default) }, "teacher")
    }

    func testEveryKthPlan() throws {
        let plan = try everyKthPlan(teacher: Self.smolLM2, shape: .default)
        XCTAssertEqual(plan.keptLayers, [0, 3, 5, 8, 11, 13, 16, 18, 21, 24, 26, 29])
        XCTAssertEqual(plan.keptChannels, Array(0..<384))
        XCTAssertEqual(plan.keptKVHeads[0], [0, 1])
        XCTAssertEqual(plan.keptHeads[0], [0, 1, 2, 3, 4, 5])
        XCTAssertNoThrow(try plan.validate(teacher: Self.smolLM2))
        let t = Self.teacherConfig()
        let one = try everyKthPlan(teacher: t, shape: StudentShape(layers: 1, dim: 4, heads: 2, kvHeads: 2, ffn: 3))
        XCTAssertEqual(one.keptLayers, [0])
        XCTAssertEqual(one.keptHeads, [[0, 2]])   // the first head of each kept kv group
        XCTAssertNoThrow(try one.validate(teacher: t))
        XCTAssertEqual(try everyKthPlan(teacher: t, shape: StudentShape(t)), .keepingEverything(t))
    }

    func testPlanValidationNamesTheField() {
        let t = Self.teacherConfig()
        let good = PruningPlan(keptLayers: [1, 3], keptChannels: [0, 5, 9], keptKVHeads: [[1], [0]],
                               keptHeads: [[2, 3], [0, 1]], keptFFN: [[4, 7], [1, 2]])
        XCTAssertNil(field { try good.validate(teacher: t) })
        var p = good
        p.keptHeads[1] = [1, 2]        // head 2 is in kv group 1, but student kv head 0 is teacher group 0
        XCTAssertEqual(field { try p.validate(teacher: t) }, "keptHeads[1][1]")
        p = good
        p.keptChannels = [0, 9, 5]
        XCTAssertEqual(field { try p.validate(teacher: t) }, "keptChannels[2]")
        p = good
        p.keptLayers = [1, 4]
        XCTAssertEqual(field { try p.validate(teacher: t) }, "keptLayers[1]")
        p = good
        p.keptFFN = [[4, 7], [1]]
        XCTAssertEqual(field { try p.validate(teacher: t) }, "keptFFN[1]")
        p = good
        p.keptKVHeads = [[1]]
        XCTAssertEqual(field { try p.validate(teacher: t) }, "keptKVHeads")
        XCTAssertThrowsError(try pruneTeacher(TinyModels.random(t), plan: p))
    }

    // MARK: Pruning

    /// Every student element equals the teacher's at the mapped indices, for a tied and an untied
    /// teacher and for plans with s < g_t and s = g_t.
    func testPrunedStudentInheritsExactSlices() throws {
        for tied in [true, false] {
            let t = Self.teacherConfig(tied: tied)
            let teacher = TinyModels.random(t, seed: tied ? 3 : 4)
            let plans = [
                PruningPlan(keptLayers: [1, 3], keptChannels: [0, 2, 3, 7, 8, 15, 16, 20, 21, 30, 31],
                            keptKVHeads: [[1], [0]], keptHeads: [[2, 3], [0, 1]], keptFFN: [[4, 7, 8, 40], [0, 1, 2, 47]]),
                PruningPlan(keptLayers: [0, 2, 3], keptChannels: Array(stride(from: 1, to: 32, by: 2)),
                            keptKVHeads: Array(repeating: [0, 1], count: 3), keptHeads: [[0, 3], [1, 2], [1, 3]],
                            keptFFN: [Array(0..<24), Array(24..<48), Array(stride(from: 0, to: 48, by: 2))]),
            ]
            for plan in plans {
                let student = try pruneTeacher(teacher, plan: plan)
                let c = student.config
                XCTAssertEqual(StudentShape(c), plan.shape)
                XCTAssertEqual([c.headDim, c.vocabSize], [t.headDim, t.vocabSize])
                XCTAssertEqual(c.tiedEmbeddings, tied)
                assertSlices(student: student, teacher: teacher, plan: plan)
            }
        }
    }

    /// Checks each student tensor element against the teacher's at (mapped row, mapped column).
    private func assertSlices(student: LlamaModel, teacher: LlamaModel, plan: PruningPlan,
                              file: StaticString = #filePath, line: UInt = #line) {
        let t = teacher.config, e = t.headDim
        let channels = plan.keptChannels
        func expand(_ heads: [Int]) -> [Int] { heads.flatMap { h in (0..<e).map { h * e + $0 } } }
        func check(_ name: String, _ s: FloatBuffer, _ tb: FloatBuffer, rows: [Int], columns: [Int], teacherColumns: Int) {
            XCTAssertEqual(s.count, rows.count * columns.count, "\(name) size", file: file, line: line)
            var bad: [String] = []
            for (i, r) in rows.enumerated() {
                for (j, col) in columns.enumerated() where s[i * columns.count + j] != tb[r * teacherColumns + col] {
                    bad.append("[\(i),\(j)] = \(s[i * columns.count + j]), teacher[\(r),\(col)] = \(tb[r * teacherColumns + col])")
                }
            }
            XCTAssert(bad.isEmpty, "\(name): \(bad.count) mismatches, first: \(bad.prefix(3))", file: file, line: line)
        }
        let sw = student.weights, tw = teacher.weights, vocab = Array(0..<t.vocabSize)
        check("token_embd", sw.tokenEmbedding, tw.tokenEmbedding, rows: vocab, columns: channels, teacherColumns: t.dim)
        check("output", sw.output, tw.output, rows: vocab, columns: channels, teacherColumns: t.dim)
        XCTAssertEqual(sw.output === sw.tokenEmbedding, t.tiedEmbeddings, "tying", file: file, line: line)
        check("output_norm", sw.finalNorm, tw.finalNorm, rows: [0], columns: channels, teacherColumns: t.dim)
        XCTAssertEqual(sw.layers.count, plan.keptLayers.count, file: file, line: line)
        for (i, l) in plan.keptLayers.enumerated() {
            let s = sw.layers[i], w = tw.layers[l], p = "blk.\(i)←\(l)."
            let q = expand(plan.keptHeads[i]), kv = expand(plan.keptKVHeads[i]), f = plan.keptFFN[i]
            check(p + "attn_norm", s.attnNorm, w.attnNorm, rows: [0], columns: channels, teacherColumns: t.dim)
            check(p + "attn_q", s.wq, w.wq, rows: q, columns: channels, teacherColumns: t.dim)
            check(p + "attn_k", s.wk, w.wk, rows: kv, columns: channels, teacherColumns: t.dim)
            check(p + "attn_v", s.wv, w.wv, rows: kv, columns: channels, teacherColumns: t.dim)
            check(p + "attn_output", s.wo, w.wo, rows: channels, columns: q, teacherColumns: t.qDim)
            check(p + "ffn_norm", s.ffnNorm, w.ffnNorm, rows: [0], columns: channels, teacherColumns: t.dim)
            check(p + "ffn_gate", s.wGate, w.wGate, rows: f, columns: channels, teacherColumns: t.dim)
            check(p + "ffn_up", s.wUp, w.wUp, rows: f, columns: channels, teacherColumns: t.dim)
            check(p + "ffn_down", s.wDown, w.wDown, rows: channels, columns: f, teacherColumns: t.ffnDim)
        }
    }

    func testKeepingEverythingReproducesTheTeacher() throws {
        for tied in [true, false] {
            let t = Self.teacherConfig(tied: tied)
            let teacher = TinyModels.random(t, seed: 11)
            let student = try pruneTeacher(teacher, plan: .keepingEverything(t))
            XCTAssertEqual(student.config, t)
            XCTAssertFalse(student.weights.tokenEmbedding === teacher.weights.tokenEmbedding, "a copy, not a view")
            let tokens = Self.calibration(count: 1, length: 24)[0]
            let expected = try batchedLogits(teacher, tokens)
            let actual = try batchedLogits(student, tokens)
            XCTAssertEqual(actual, expected, "logits of the everything-kept student (tied: \(tied))")
        }
    }

    // MARK: Importance

    func testIdentityBlockIsLeastImportant() throws {
        let t = Self.teacherConfig()
        let teacher = TinyModels.random(t, seed: 5)
        let identity = 2
        zero(teacher.weights.layers[identity].wo)
        zero(teacher.weights.layers[identity].wDown)
        var stages: [ImportanceProgress] = []
        let importance = try measureImportance(teacher: teacher, sequences: Self.calibration(), depthSequences: 2) {
            stages.append($0)
        }
        XCTAssertNoThrow(try importance.validate(teacher: t))
        XCTAssertEqual([importance.tokens, importance.depthTokens], [48, 32])
        XCTAssertEqual(stages.last, ImportanceProgress(stage: .depth, completed: 4, total: 4))
        XCTAssertEqual(importance.depthRanking.last, identity, "layer scores \(importance.layerScores)")
        XCTAssertLessThan(importance.layerScores[identity], 1e-6, "an identity block changes nothing")
        for l in 0..<4 where l != identity {
            XCTAssertGreaterThan(importance.layerScores[l], 1e-3, "block \(l): \(importance.layerScores)")
        }
        let plan = try planPruning(importance, teacher: t, shape: StudentShape(layers: 3, dim: 32, heads: 4, kvHeads: 2, ffn: 48))
        XCTAssertFalse(plan.keptLayers.contains(identity))
    }

    func testZeroedHeadAndChannelsAreLeastImportant() throws {
        let t = Self.teacherConfig()
        let teacher = TinyModels.random(t, seed: 6)
        let w = teacher.weights, e = t.headDim
        // Head 1 of block 0 writes nothing: its columns of W_o are zero.
        for d in 0..<t.dim { for j in 0..<e { w.layers[0].wo[d * t.qDim + 1 * e + j] = 0 } }
        // MLP channel 5 of block 1 writes nothing: its column of W_down is zero.
        for d in 0..<t.dim { w.layers[1].wDown[d * t.ffnDim + 5] = 0 }
        // Residual channel 7 is always zero: nothing writes it.
        for v in 0..<t.vocabSize { w.tokenEmbedding[v * t.dim + 7] = 0 }
        for layer in w.layers {
            for j in 0..<t.qDim { layer.wo[7 * t.qDim + j] = 0 }
            for j in 0..<t.ffnDim { layer.wDown[7 * t.ffnDim + j] = 0 }
        }
        let importance = try measureImportance(teacher: teacher, sequences: Self.calibration())
        XCTAssertEqual(importance.headScores[0][1], 0)
        XCTAssertEqual(rankLast(importance.headScores[0]), 1, "\(importance.headScores[0])")
        XCTAssertEqual(importance.ffnScores[1][5], 0)
        XCTAssertEqual(rankLast(importance.ffnScores[1]), 5)
        XCTAssertEqual(importance.channelScores[7], 0)
        XCTAssertEqual(rankLast(importance.channelScores), 7)
        for l in 0..<4 {
            XCTAssertEqual(importance.kvGroupScores[l][0], importance.headScores[l][0] + importance.headScores[l][1],
                           accuracy: 1e-9)
            XCTAssertGreaterThan(importance.headScores[l].filter { $0 > 0 }.count, l == 0 ? 2 : 3)
        }
        // A plan one narrower in each dimension drops exactly those.
        let plan = try planPruning(importance, teacher: t, shape: StudentShape(layers: 4, dim: 31, heads: 2, kvHeads: 2, ffn: 47))
        XCTAssertFalse(plan.keptChannels.contains(7))
        XCTAssertFalse(plan.keptFFN[1].contains(5))
        XCTAssertFalse(plan.keptHeads[0].contains(1))
        XCTAssertEqual(plan.keptHeads[0].first, 0, "kv group 0 keeps its remaining head")
    }

    func testImportanceRejectsBadCalibration() {
        let teacher = TinyModels.random(Self.teacherConfig())
        XCTAssertEqual(field { _ = try measureImportance(teacher: teacher, sequences: []) }, "sequences")
        XCTAssertEqual(field { _ = try measureImportance(teacher: teacher, sequences: [[1, 2], []]) }, "sequences[1]")
        XCTAssertEqual(field { _ = try measureImportance(teacher: teacher, sequences: [[1, 48]]) }, "sequences[0][1]")
        XCTAssertEqual(field { _ = try measureImportance(teacher: teacher, sequences: [Array(repeating: 1, count: 65)]) },
                       "sequences[0]")
        XCTAssertEqual(field { _ = try measureImportance(teacher: teacher, sequences: [[1]], depthSequences: 2) },
                       "depthSequences")
    }

    func testImportanceRoundTripsThroughJSON() throws {
        let t = Self.teacherConfig()
        let importance = try measureImportance(teacher: TinyModels.random(t), sequences: Self.calibration(count: 1, length: 8))
        let decoded = try JSONDecoder().decode(TeacherImportance.self, from: JSONEncoder().encode(importance))
        XCTAssertEqual(decoded, importance)
        var bad = importance
        bad.ffnScores[2][3] = -1
        XCTAssertEqual(field { try bad.validate(teacher: t) }, "ffnScores[2][3]")
    }

    // MARK: Real teacher

    /// The real teacher on one short Shakespeare window: finite scores, a valid default plan and a
    /// student of the default preset's size that runs.
    func testRealTeacherImportanceAndDefaultStudent() throws {
        let file = try GGUFFile.open(path: try TestInputs.requireTeacher())
        let text = try String(contentsOfFile: try TestInputs.requireSplit("train"), encoding: .utf8)
        let teacher = try LlamaModel.load(gguf: file)
        let tokens = Array(try BPETokenizer.load(gguf: file).encode(String(text.prefix(2000))).prefix(32))
        XCTAssertEqual(tokens.count, 32)
        // Width only: the depth pass (L + 1 forwards and KL over V per token) is measured in
        // release builds (docs/DISTILLATION.md) and tested on the tiny teachers.
        let importance = try measureImportance(teacher: teacher, sequences: [tokens], depthSequences: 0)
        XCTAssertNoThrow(try importance.validate(teacher: teacher.config))
        XCTAssertEqual(importance.layerScores, Array(repeating: 0, count: 30))
        XCTAssertEqual(importance.depthTokens, 0)
        XCTAssertTrue(importance.channelScores.allSatisfy { $0 > 0 })
        XCTAssertTrue(importance.headScores.allSatisfy { $0.allSatisfy { $0 > 0 } })
        let plan = try planPruning(importance, teacher: teacher.config, shape: .default)
        let student = try pruneTeacher(teacher, plan: plan)
        XCTAssertEqual(student.config.parameterCount, StudentShape.default.parameterCount(teacher: teacher.config))
        let logits = try batchedLogits(student, Array(tokens.prefix(8)))
        XCTAssertTrue(logits.allSatisfy(\.isFinite))
    }

    private func rankLast(_ scores: [Double]) -> Int? {
        scores.indices.min { scores[$0] < scores[$1] }
    }

    private func zero(_ buffer: FloatBuffer) {
        buffer.pointer.update(repeating: 0, count: buffer.count)
    }
}
