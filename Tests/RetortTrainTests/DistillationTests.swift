import Foundation
import RetortModel
import RetortTestSupport
@testable import RetortTrain
import XCTest

/// The distillation loop on tiny synthetic models: budgets, the second stage, checkpoints that
/// resume exactly, and corrupt or mismatched checkpoints rejected with the field named.
final class DistillationTests: XCTestCase {
    static let studentConfig: LlamaConfig = {
        var c = TinyModels.config
        c.layerCount = 1
        c.dim = 8
        c.headCount = 2
        c.kvHeadCount = 1
        c.ffnDim = 12
        return c
    }()

    /// A sparse teacher signal computed from the teacher's logits (what a cache stores).
    final class SparseTeacher: TeacherSignal {
        let topK: Int
        let online: OnlineTeacher
        let vocab: Int, length: Int
        init(teacher: LlamaModel, windows: TrainingWindows, topK: Int) {
            self.topK = topK
            online = OnlineTeacher(teacher: teacher, windows: windows)
            vocab = teacher.config.vocabSize
            length = windows.length
        }
        /// Every `prepare` call, in order.
        var prepared: [Range<Int>] = []
        func prepare(windows: Range<Int>) { prepared.append(windows) }
        func sparse(window w: Int, ids: UnsafeMutablePointer<Int32>, logProbs: UnsafeMutablePointer<Float>,
                    rest: UnsafeMutablePointer<Float>) throws {
            let logits = FloatBuffer(count: length * vocab)
            try online.logits(window: w, into: logits.pointer)
            sparseTeacherFromLogits(ids, logProbs, rest, logits.pointer, rows: length, vocab: vocab, topK: topK, temperature: 1)
        }
        func logits(window w: Int, into out: UnsafeMutablePointer<Float>) throws { try online.logits(window: w, into: out) }
    }

    private func make(topK: Int, settings: (inout DistillSettings) -> Void = { _ in },
                      checkpoint: String? = nil) throws -> Distillation {
        let teacher = TinyModels.random(seed: 1)
        let student = LlamaModel(config: Self.studentConfig)
        initializeRandom(student, seed: 2, standardDeviation: 0.2)
        var s = DistillSettings()
        s.sequenceLength = 6
        s.batch = 2
        s.accumulation = 2
        s.maxTokens = 8 * s.tokensPerStep
        s.topK = topK
        s.peakLearningRate = 1e-2
        s.warmupSteps = 2
        s.evalEvery = 0
        s.checkpointEvery = 0
        s.temperature = .linear(start: 2, end: 1)
        settings(&s)
        let tokens = (0..<400).map { Int32(($0 * 7 + $0 / 5) % TinyModels.config.vocabSize) }
        let windows = try TrainingWindows(tokens: tokens, length: s.sequenceLength, seed: s.seed, limit: s.windowLimit)
        let signal: TeacherSignal = topK > 0 ? SparseTeacher(teacher: teacher, windows: windows, topK: topK)
                                             : OnlineTeacher(teacher: teacher, windows: windows)
        return try Distillation(teacher: teacher, student: student, windows: windows, signal: signal,
                                validation: Array(tokens.prefix(60)), state: DistillState(settings: s),
                                checkpointPath: checkpoint)
    }

    private func temporaryPath(_ name: String) -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("retort-distill-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    func testTokenBudgetSetsStepsAndLossFalls() throws {
        let d = try make(topK: 0)
        XCTAssertTrue(try d.run())
        XCTAssertEqual(d.state.step, 8)
        XCTAssertEqual(d.state.tokensSeen, 8 * 24)
        XCTAssertLessThan(d.state.history.last!.loss, d.state.history.first!.loss)
        XCTAssertEqual(d.state.history.first!.temperature, 2)
        XCTAssertEqual(d.state.history.last!.temperature, 1)
    }

    /// A time budget fixes the schedule's length from the measured step time and stops in time.
    func testTimeBudgetSetsScheduleAndStops() throws {
        let d = try make(topK: 0) {
            $0.maxTokens = nil
            $0.maxMinutes = 0.01
        }
        let clock = ContinuousClock()
        let start = clock.now
        try d.run()
        XCTAssertNotNil(d.state.totalSteps)
        XCTAssertGreaterThanOrEqual(d.state.step, 3)
        XCTAssertLessThan(start.duration(to: clock.now).seconds, 0.6 + 5 * d.state.elapsedSeconds / Double(d.state.step),
                          "stops within about a step of the budget")
    }

    func testSecondStageTrainsOnHardLabels() throws {
        let d = try make(topK: 0) { $0.hardLabelFraction = 0.25 }
        try d.run()
        XCTAssertEqual(d.state.history.map(\.alpha), [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0, 0])
        XCTAssertEqual(d.state.history.last!.distillation, 0)
    }

    /// Interrupted after 3 steps, resumed from the checkpoint: the remaining losses are
    /// bit-identical to an uninterrupted run's.
    func testResumeReproducesUninterruptedRun() throws {
        for topK in [0, 5] {
            let whole = try make(topK: topK)
            try whole.run()
            let path = temporaryPath("resume-\(topK).rtck")
            let first = try make(topK: topK, checkpoint: path)
            defer { Distillation.interrupted = false }
            let finished = try first.run(progress: { step, _, _ in if step.step == 3 { Distillation.interrupted = true } })
            XCTAssertFalse(finished)
            Distillation.interrupted = false
            XCTAssertEqual(first.state.step, 3)
            let second = try make(topK: topK, checkpoint: path)
            try second.resume(from: path)
            XCTAssertEqual(second.state.step, 3)
            XCTAssertTrue(try second.run())
            XCTAssertEqual(second.state.history, whole.state.history, "top-K \(topK)")
            XCTAssertEqual(second.student.weights.layers[0].wq.array, whole.student.weights.layers[0].wq.array)
        }
    }

    // MARK: Hidden-state term

    /// A distillation whose student is `plan` applied to the tiny teacher, with β = `beta` over
    /// every student block.
    private func makeHidden(plan: (LlamaConfig) throws -> PruningPlan, beta: Float, alpha: Float = 0.5,
                            checkpoint: String? = nil) throws -> Distillation {
        let teacher = TinyModels.random(seed: 1)
        let p = try plan(teacher.config)
        let student = try pruneTeacher(teacher, plan: p)
        var s = DistillSettings()
        s.sequenceLength = 6
        s.batch = 2
        s.accumulation = 2
        s.maxTokens = 8 * s.tokensPerStep
        s.topK = 5
        s.alpha = alpha
        s.peakLearningRate = 1e-2
        s.warmupSteps = 2
        s.evalEvery = 0
        s.checkpointEvery = 0
        s.hiddenWeight = beta
        let tokens = (0..<400).map { Int32(($0 * 7 + $0 / 5) % TinyModels.config.vocabSize) }
        let windows = try TrainingWindows(tokens: tokens, length: s.sequenceLength, seed: s.seed)
        var state = DistillState(settings: s)
        state.hiddenMap = HiddenAlignmentMap(plan: p, studentLayers: Array(0..<p.keptLayers.count))
        return try Distillation(teacher: teacher, student: student, windows: windows,
                                signal: SparseTeacher(teacher: teacher, windows: windows, topK: 5),
                                validation: Array(tokens.prefix(60)), state: state, checkpointPath: checkpoint)
    }

    private static func everyKth(_ teacher: LlamaConfig) throws -> PruningPlan {
        try everyKthPlan(teacher: teacher, shape: StudentShape(layers: 1, dim: 8, heads: 2, kvHeads: 1, ffn: 12))
    }

    /// A student that is the whole teacher starts with its hidden states equal to the teacher's:
    /// the first step's hidden term is zero up to float rounding.
    func testHiddenTermOfTheUnprunedTeacherIsZero() throws {
        let d = try makeHidden(plan: { PruningPlan.keepingEverything($0) }, beta: 1)
        d.updateBudget(maxTokens: d.state.settings.tokensPerStep, maxMinutes: nil)
        try d.run()
        let first = try XCTUnwrap(d.state.history.first?.hidden)
        XCTAssertLessThan(first, 1e-5)
    }

    /// On a pruned student the term is positive, is part of the loss with weight β, and falls as
    /// training aligns the student's blocks with the teacher's (α = 0: no teacher logits, so the
    /// hidden term is the only pull towards the teacher).
    func testHiddenTermTrainsTowardsTheTeacher() throws {
        let d = try makeHidden(plan: Self.everyKth, beta: 2, alpha: 0)
        try d.run()
        let h = d.state.history
        let first = try XCTUnwrap(h.first?.hidden), last = try XCTUnwrap(h.last?.hidden)
        XCTAssertGreaterThan(first, 1e-3)
        XCTAssertLessThan(last, 0.8 * first)
        for step in h {
            XCTAssertEqual(step.loss, step.crossEntropy + 2 * step.hidden!, accuracy: 1e-5 * max(1, step.loss))
        }
        // Without a map the term is refused with the field named.
        var s = d.state.settings
        s.hiddenWeight = 1
        XCTAssertThrowsError(try Distillation(teacher: d.teacher, student: d.student, windows: d.windows, signal: d.signal,
                                              validation: [], state: DistillState(settings: s), checkpointPath: nil)) {
            XCTAssertTrue("\($0)".contains("hidden-weight"), "\($0)")
        }
    }

    /// Resume with the hidden term is exact too (the map travels in the checkpoint's state).
    func testResumeWithHiddenTermReproducesUninterruptedRun() throws {
        let whole = try makeHidden(plan: Self.everyKth, beta: 0.5)
        try whole.run()
        let path = temporaryPath("resume-hidden.rtck")
        let first = try makeHidden(plan: Self.everyKth, beta: 0.5, checkpoint: path)
        defer { Distillation.interrupted = false }
        XCTAssertFalse(try first.run(progress: { step, _, _ in if step.step == 3 { Distillation.interrupted = true } }))
        Distillation.interrupted = false
        let saved = try Checkpoint.readState(DistillState.self, from: path)
        XCTAssertEqual(saved.hiddenMap, whole.state.hiddenMap)
        let second = try makeHidden(plan: Self.everyKth, beta: 0.5, checkpoint: path)
        try second.resume(from: path)
        XCTAssertTrue(try second.run())
        XCTAssertEqual(second.state.history, whole.state.history)
    }

    func testHiddenLayersParse() throws {
        XCTAssertEqual(try parseHiddenLayers("all", layerCount: 3), [0, 1, 2])
        XCTAssertEqual(try parseHiddenLayers("last", layerCount: 3), [2])
        XCTAssertEqual(try parseHiddenLayers("2,0,2", layerCount: 3), [0, 2])
        XCTAssertThrowsError(try parseHiddenLayers("3", layerCount: 3))
        XCTAssertThrowsError(try parseHiddenLayers("1,,2", layerCount: 3))
    }

    func testCorruptCheckpointIsRejected() throws {
        let path = temporaryPath("corrupt.rtck")
        let d = try make(topK: 0, checkpoint: path)
        try d.run()
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count / 2] ^= 0x10
        try bytes.write(to: URL(fileURLWithPath: path))
        let fresh = try make(topK: 0, checkpoint: path)
        XCTAssertThrowsError(try fresh.resume(from: path)) { error in
            XCTAssertEqual((error as? ModelError)?.field, "checksum", "\(error)")
        }
        try Data(bytes.prefix(40)).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try fresh.resume(from: path)) { error in
            XCTAssertEqual((error as? ModelError)?.field, "size", "\(error)")
        }
    }

    func testCheckpointOfAnotherShapeIsRejected() throws {
        let path = temporaryPath("shape.rtck")
        let d = try make(topK: 0, checkpoint: path)
        try d.run()
        var c = Self.studentConfig
        c.ffnDim = 16
        let other = LlamaModel(config: c)
        XCTAssertThrowsError(try Checkpoint.read(DistillState.self, from: path, model: other,
                                                 optimizer: AdamW(config: c))) { error in
            XCTAssertEqual((error as? ModelError)?.field, "config[ffn]", "\(error)")
        }
    }

    func testSettingsValidationNamesTheField() {
        var s = DistillSettings()
        XCTAssertThrowsError(try s.validate()) { XCTAssertEqual(($0 as? ModelError)?.field, "budget") }
        s.maxMinutes = 1
        s.alpha = 1.5
        XCTAssertThrowsError(try s.validate()) { XCTAssertEqual(($0 as? ModelError)?.field, "alpha") }
        s.alpha = 0.5
        s.maxTokens = 10
        XCTAssertThrowsError(try s.validate()) { XCTAssertEqual(($0 as? ModelError)?.field, "max-tokens") }
    }

    func testWindowsAreASeededPermutation() throws {
        let tokens = (0..<101).map { Int32($0) }
        let a = try TrainingWindows(tokens: tokens, length: 10, seed: 3)
        XCTAssertEqual(a.count, 10)
        XCTAssertEqual(a.order.sorted(), Array(0..<10))
        XCTAssertEqual(a.order, try TrainingWindows(tokens: tokens, length: 10, seed: 3).order)
        XCTAssertNotEqual(a.order, try TrainingWindows(tokens: tokens, length: 10, seed: 4).order)
        XCTAssertEqual(Array(a.labels(0)), Array(a.window(0)).map { $0 + 1 })
        XCTAssertThrowsError(try TrainingWindows(tokens: [1, 2], length: 10, seed: 1))
    }

    /// Periodic validation reads windows spread over the whole text, not its opening.
    func testValidationSampleIsSpreadOverTheText() {
        let tokens = (0..<1000).map { Int32($0) }
        let sample = Distillation.sampleValidation(tokens, count: 40, window: 10)   // 4 of 100 windows
        XCTAssertEqual(sample.count, 40)
        XCTAssertEqual(stride(from: 0, to: 40, by: 10).map { sample[$0] }, [0, 250, 500, 750])
        XCTAssertEqual(Array(sample[10..<20]), (250..<260).map { Int32($0) })
        XCTAssertEqual(Distillation.sampleValidation(tokens, count: 35, window: 10).count, 40, "rounded up to whole windows")
        XCTAssertEqual(Distillation.sampleValidation(tokens, count: 2000, window: 10), tokens, "short text: all of it")
        XCTAssertEqual(Distillation.sampleValidation(tokens, count: 995, window: 10), tokens, "as many windows as the text has")
        XCTAssertEqual(Distillation.sampleValidation(Array(tokens.prefix(8)), count: 5, window: 10).count, 8)
        XCTAssertEqual(Distillation.sampleValidation(tokens, count: 0, window: 10), tokens)
    }

    /// A limit keeps the first N windows of the same permutation; training wraps around them and
    /// calibration comes from the permutation's end, outside them.
    func testWindowLimitIsAPrefixOfThePermutation() throws {
        let tokens = (0..<101).map { Int32($0) }
        let all = try TrainingWindows(tokens: tokens, length: 10, seed: 3)
        let some = try TrainingWindows(tokens: tokens, length: 10, seed: 3, limit: 4)
        XCTAssertEqual(some.count, 4)
        XCTAssertEqual(some.order, Array(all.order.prefix(4)))
        XCTAssertEqual(some.permutation, all.order)
        XCTAssertEqual(Array(some.window(4)), Array(some.window(0)))
        XCTAssertEqual(Array(some.labels(5)), Array(some.labels(1)))
        XCTAssertEqual(some.orderedTokens.count, 40)
        for j in 0..<6 {
            let start = Int(some.calibrationWindow(j).first!)
            XCTAssertFalse(some.order.contains(start / 10), "calibration window \(j) is a training window")
        }
        XCTAssertEqual(Array(all.calibrationWindow(0)), Array(all.window(all.count - 1)))
        for bad in [0, 11] {
            XCTAssertThrowsError(try TrainingWindows(tokens: tokens, length: 10, seed: 3, limit: bad)) {
                XCTAssertEqual(($0 as? ModelError)?.field, "windows")
            }
        }
    }

    /// With a window limit, the teacher signal for every window is prepared before the first step
    /// (the fill is timed apart from training), and later epochs repeat the windows.
    func testWindowLimitFillsTheSignalBeforeTraining() throws {
        let d = try make(topK: 5) { $0.windowLimit = 3 }
        let signal = try XCTUnwrap(d.signal as? SparseTeacher)
        XCTAssertTrue(try d.run())
        XCTAssertEqual(d.state.step, 8)
        XCTAssertEqual(signal.prepared.first, 0 ..< 3)
        XCTAssertEqual(signal.prepared.count, 1 + 8)
        XCTAssertNotNil(d.state.cacheFillSeconds)
        XCTAssertTrue(d.state.history.allSatisfy { $0.loss.isFinite })
        let unlimited = try make(topK: 5)
        XCTAssertTrue(try unlimited.run())
        XCTAssertNil(unlimited.state.cacheFillSeconds)
        XCTAssertEqual((unlimited.signal as? SparseTeacher)?.prepared.first, 0 ..< 4)
        var s = DistillSettings()
        s.maxTokens = s.tokensPerStep
        s.windowLimit = 0
        XCTAssertThrowsError(try s.validate()) { XCTAssertEqual(($0 as? ModelError)?.field, "windows") }
    }
}
