import Foundation
import RetortModel

/// Settings of a distillation run; the defaults are the documented recipe (docs/DISTILLATION.md).
public struct DistillSettings: Codable, Equatable, Sendable {
    /// Tokens per training sequence (T) and sequences per micro-batch (B).
    public var sequenceLength = 256
    public var batch = 1
    /// Micro-batches per optimizer step.
    public var accumulation = 4
    public var peakLearningRate: Float = 1e-3
    public var warmupSteps = 10
    public var minimumLearningRatio: Float = 0.1
    public var weightDecay: Float = 0.05
    public var maxGradientNorm = 1.0
    /// Weight of the distillation term: α·τ²·KL + (1 − α)·CE.
    public var alpha: Float = 0.5
    public var temperature: TemperatureSchedule = .constant(1)
    /// Teacher signal: top-K of the teacher cache; 0 = the full distribution, teacher run online.
    public var topK = 64
    /// Fraction of the steps, at the end, trained on hard labels only (α = 0): a second stage.
    public var hardLabelFraction = 0.0
    /// Weight β of the hidden-state term (nil or 0 = off) and how rows are compared (nil = cosine).
    /// Needs a pruned student (`DistillState.hiddenMap`); the teacher's blocks run on every window.
    public var hiddenWeight: Float?
    public var hiddenLoss: HiddenLossKind?
    /// Train on the first N windows of the shuffled order only, repeating them (nil = all). The
    /// teacher cache for them is filled before the first step.
    public var windowLimit: Int?
    /// Budget: stop after this many training tokens and/or minutes (at least one must be set).
    public var maxTokens: Int?
    public var maxMinutes: Double?
    /// Validation every N steps over `evalTokens` tokens of the validation text, taken as windows of
    /// `sequenceLength` spread evenly over it (`Distillation.sampleValidation`) (0 = never).
    public var evalEvery = 100
    public var evalTokens = 2048
    /// Checkpoint every N steps (0 = only on interrupt and at the end).
    public var checkpointEvery = 50
    /// Seed of the data order.
    public var seed: UInt64 = 1

    public init() {}

    public var tokensPerStep: Int { sequenceLength * batch * accumulation }

    /// Checks ranges; `source` names where the settings came from in errors.
    public func validate(source: String = "distill") throws {
        func fail(_ field: String, _ message: String) -> ModelError { ModelError(file: source, field: field, message: message) }
        guard sequenceLength >= 2 else { throw fail("sequence-length", "\(sequenceLength) must be ≥ 2") }
        guard batch >= 1, accumulation >= 1 else { throw fail("batch", "batch and accumulation must be ≥ 1") }
        guard peakLearningRate > 0, peakLearningRate.isFinite else { throw fail("lr", "\(peakLearningRate) must be > 0") }
        guard (0...1).contains(alpha) else { throw fail("alpha", "\(alpha) must be in 0...1") }
        guard (0...1).contains(minimumLearningRatio) else { throw fail("min-lr-ratio", "must be in 0...1") }
        guard (0..<1).contains(hardLabelFraction) else { throw fail("hard-label-fraction", "\(hardLabelFraction) must be in 0..<1") }
        guard topK >= 0 else { throw fail("top-k", "\(topK) must be ≥ 0") }
        if let hiddenWeight { guard hiddenWeight >= 0, hiddenWeight.isFinite else { throw fail("hidden-weight", "\(hiddenWeight) must be ≥ 0") } }
        guard maxTokens != nil || maxMinutes != nil else { throw fail("budget", "set --max-tokens and/or --max-minutes") }
        if let maxTokens, maxTokens < tokensPerStep {
            throw fail("max-tokens", "\(maxTokens) is less than one step (\(tokensPerStep) tokens)")
        }
        if let maxMinutes, !(maxMinutes > 0) { throw fail("max-minutes", "\(maxMinutes) must be > 0") }
        if let windowLimit, windowLimit < 1 { throw fail("windows", "\(windowLimit) must be ≥ 1") }
        for t in [temperature.temperature(at: 0), temperature.temperature(at: 1)] where !(t > 0) {
            throw fail("temperature", "\(t) must be > 0")
        }
    }
}

/// One logged optimizer step.
public struct DistillStep: Codable, Equatable, Sendable {
    public var step: Int
    public var loss: Double
    public var crossEntropy: Double
    public var distillation: Double
    public var gradientNorm: Double
    public var learningRate: Float
    public var temperature: Float
    public var alpha: Float
    /// Mean hidden-state loss (before β), when the objective has one.
    public var hidden: Double? = nil
}

/// One validation pass.
public struct DistillEvaluation: Codable, Equatable, Sendable {
    public var step: Int
    public var tokens: Int
    public var perplexity: Double
    public var teacherPerplexity: Double
    public var klToTeacher: Double
    public var top1Agreement: Double
}

/// Everything a checkpoint records besides tensors; enough to continue exactly.
public struct DistillState: Codable, Equatable, Sendable {
    public var settings: DistillSettings
    /// Optimizer steps the schedule spans (fixed at the start, or after the first steps when
    /// only a time budget is given).
    public var totalSteps: Int?
    public var step = 0
    public var tokensSeen = 0
    /// Training seconds before this process (the budget counts across resumes).
    public var elapsedSeconds = 0.0
    /// Of those, seconds spent filling the teacher cache before the first step (`windowLimit`).
    public var cacheFillSeconds: Double?
    public var history: [DistillStep] = []
    public var evaluations: [DistillEvaluation] = []
    /// Free-form provenance carried from the start (teacher hash, data hash, student plan).
    public var provenance: [String: String] = [:]
    public var studentConfig: [String: Int] = [:]
    /// Student ↔ teacher blocks and channels for the hidden-state term (nil: none).
    public var hiddenMap: HiddenAlignmentMap?

    public init(settings: DistillSettings) { self.settings = settings }
}

/// Where the teacher's targets come from for a window of the (ordered) training stream.
public protocol TeacherSignal: AnyObject {
    /// Top-K per token (0: the full distribution through `logits`).
    var topK: Int { get }
    /// Makes windows `windows` available (computing them if needed).
    func prepare(windows: Range<Int>) throws
    /// Sparse signal of window `w` at τ = 1: ids, log-probs (T, K), rest (T).
    func sparse(window w: Int, ids: UnsafeMutablePointer<Int32>, logProbs: UnsafeMutablePointer<Float>,
                rest: UnsafeMutablePointer<Float>) throws
    /// Full logits (T, V) of window `w` into `out`.
    func logits(window w: Int, into out: UnsafeMutablePointer<Float>) throws
}

/// The teacher run online on every window (full distribution, nothing stored).
public final class OnlineTeacher: TeacherSignal {
    public let topK = 0
    let session: LlamaSession
    let windows: TrainingWindows

    public init(teacher: LlamaModel, windows: TrainingWindows) {
        session = LlamaSession(model: teacher, capacity: windows.length)
        self.windows = windows
    }

    public func prepare(windows: Range<Int>) {}

    public func sparse(window w: Int, ids: UnsafeMutablePointer<Int32>, logProbs: UnsafeMutablePointer<Float>,
                       rest: UnsafeMutablePointer<Float>) throws {
        preconditionFailure("OnlineTeacher gives full logits")
    }

    public func logits(window w: Int, into out: UnsafeMutablePointer<Float>) throws {
        session.reset()
        let logits = try session.forward(Array(windows.window(w)), logits: .all)
        out.update(from: logits.baseAddress!, count: logits.count)
    }
}

/// The training token stream cut into windows of `length` tokens plus one (the last label), in a
/// seeded order: window i holds tokens of source window order[i]. Windows do not overlap.
/// With a `limit`, training uses the first `limit` windows of the shuffled order (later epochs
/// repeat them); the rest stay out of training and are where calibration text comes from.
public struct TrainingWindows: Sendable {
    public let tokens: [Int32]
    public let length: Int
    /// The windows training uses, in training order.
    public let order: [Int]
    /// The whole shuffled order (`order` is its prefix).
    public let permutation: [Int]

    public init(tokens: [Int32], length: Int, seed: UInt64, limit: Int? = nil, source: String = "data") throws {
        guard length >= 2 else { throw ModelError(file: source, field: "sequence-length", message: "\(length) must be ≥ 2") }
        let count = (tokens.count - 1) / length
        guard count >= 1 else {
            throw ModelError(file: source, field: "tokens", message: "\(tokens.count) tokens is less than one sequence of \(length) + 1")
        }
        if let limit, limit < 1 || limit > count {
            throw ModelError(file: source, field: "windows", message: "\(limit) windows asked for; the text has 1…\(count) windows of \(length) + 1")
        }
        self.tokens = tokens
        self.length = length
        var order = Array(0..<count)
        var state = seed
        for i in stride(from: count - 1, to: 0, by: -1) {   // Fisher–Yates with SplitMix64
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            order.swapAt(i, Int(z % UInt64(i + 1)))
        }
        self.permutation = order
        self.order = Array(order.prefix(limit ?? count))
    }

    /// Calibration window j: counted from the end of the whole shuffled order, so a short run or a
    /// limited one does not train on its calibration text while windows are left over.
    public func calibrationWindow(_ j: Int) -> ArraySlice<Int32> {
        let start = permutation[permutation.count - 1 - j % permutation.count] * length
        return tokens[start ..< start + length]
    }

    public var count: Int { order.count }

    /// Input tokens of window i (i taken modulo the count: later epochs repeat the order).
    public func window(_ i: Int) -> ArraySlice<Int32> {
        let start = order[i % order.count] * length
        return tokens[start ..< start + length]
    }

    /// Next-token labels of window i.
    public func labels(_ i: Int) -> ArraySlice<Int32> {
        let start = order[i % order.count] * length + 1
        return tokens[start ..< start + length]
    }

    /// The windows' tokens in training order, concatenated (what a teacher cache is built over).
    public var orderedTokens: [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(order.count * length)
        for i in 0..<order.count { out += window(i) }
        return out
    }
}

/// A distillation run: the student trained on the teacher's signal over `windows`, with
/// validation, checkpoints and a budget. Deterministic given its inputs: resuming from a
/// checkpoint continues with the same losses as an uninterrupted run.
public final class Distillation {
    public let teacher: LlamaModel
    public let student: LlamaModel
    public let windows: TrainingWindows
    public let signal: TeacherSignal
    public let trainer: Trainer
    public private(set) var state: DistillState
    public let validation: [Int32]
    /// What each periodic validation evaluates (`sampleValidation`).
    public var validationSample: [Int32] {
        Self.sampleValidation(validation, count: state.settings.evalTokens, window: state.settings.sequenceLength)
    }
    public let checkpointPath: String?
    /// Set from a signal handler: the loop writes a checkpoint and returns after the current step.
    nonisolated(unsafe) public static var interrupted = false

    // Per micro-batch teacher buffers.
    let ids: UnsafeMutablePointer<Int32>
    let logProbs: UnsafeMutablePointer<Float>
    let rest: UnsafeMutablePointer<Float>
    let teacherLogits: FloatBuffer?
    // Hidden-state term (β > 0): teacher states, per-block gradients (N, D_s), per-row losses (N).
    let teacherHidden: TeacherHiddenStates?
    let hiddenGradients: [FloatBuffer]
    let hiddenLosses: FloatBuffer?

    public init(teacher: LlamaModel, student: LlamaModel, windows: TrainingWindows, signal: TeacherSignal,
                validation: [Int32], state: DistillState, checkpointPath: String?) throws {
        let s = state.settings
        try s.validate()
        guard windows.length == s.sequenceLength else {
            throw ModelError(file: "distill", field: "sequence-length", message: "windows of \(windows.length), settings \(s.sequenceLength)")
        }
        guard teacher.config.vocabSize == student.config.vocabSize else {
            throw ModelError(file: "distill", field: "vocab", message: "teacher \(teacher.config.vocabSize), student \(student.config.vocabSize)")
        }
        self.teacher = teacher
        self.student = student
        self.windows = windows
        self.signal = signal
        self.validation = validation
        self.state = state
        self.checkpointPath = checkpointPath
        let settings = TrainingSettings(
            batch: s.batch, sequenceLength: s.sequenceLength, accumulation: s.accumulation,
            schedule: LearningRateSchedule(peak: s.peakLearningRate, warmupSteps: s.warmupSteps,
                                           totalSteps: max(1, state.totalSteps ?? 1_000_000),
                                           minimumRatio: s.minimumLearningRatio),
            adamW: AdamWSettings(weightDecay: s.weightDecay), maxGradientNorm: s.maxGradientNorm)
        trainer = Trainer(model: student, settings: settings)
        let n = s.batch * s.sequenceLength, k = max(signal.topK, 1)
        ids = .allocate(capacity: n * k)
        logProbs = .allocate(capacity: n * k)
        rest = .allocate(capacity: n)
        teacherLogits = signal.topK == 0 ? FloatBuffer(count: n * student.config.vocabSize) : nil
        if let beta = s.hiddenWeight, beta > 0 {
            guard let map = state.hiddenMap else {
                throw ModelError(file: "distill", field: "hidden-weight",
                                 message: "the hidden-state term needs a pruned student (its blocks and channels map to the teacher's)")
            }
            try map.validate(student: student.config, teacher: teacher.config)
            teacherHidden = TeacherHiddenStates(teacher: teacher, map: map, sequenceLength: s.sequenceLength, batch: s.batch)
            hiddenGradients = map.studentLayers.map { _ in FloatBuffer(count: n * student.config.dim) }
            hiddenLosses = FloatBuffer(count: n)
        } else {
            teacherHidden = nil
            hiddenGradients = []
            hiddenLosses = nil
        }
    }

    deinit {
        ids.deallocate()
        logProbs.deallocate()
        rest.deallocate()
    }

    /// Restores tensors and state from a checkpoint written by this class.
    public func resume(from path: String) throws {
        state = try Checkpoint.read(DistillState.self, from: path, model: student, optimizer: trainer.optimizer)
        trainer.optimizer.restore(step: state.step)
        if let total = state.totalSteps { setTotalSteps(total) }
    }

    /// Changes the budget of a resumed run. A new token budget re-spans the schedule over it;
    /// everything else keeps the checkpoint's settings.
    public func updateBudget(maxTokens: Int?, maxMinutes: Double?) {
        if let maxTokens, maxTokens != state.settings.maxTokens {
            state.settings.maxTokens = maxTokens
            setTotalSteps(max(1, maxTokens / state.settings.tokensPerStep))
        }
        if let maxMinutes { state.settings.maxMinutes = maxMinutes }
    }

    public func writeCheckpoint() throws {
        guard let checkpointPath else { return }
        try Checkpoint.write(to: checkpointPath, state: state, model: student, optimizer: trainer.optimizer)
    }

    private func setTotalSteps(_ total: Int) {
        state.totalSteps = total
        trainer.scheduleTotalSteps = total
    }

    /// α and τ for the step numbered `step` (0-based) of `total`.
    func mix(step: Int, total: Int) -> (alpha: Float, temperature: Float) {
        let s = state.settings
        let progress = total > 1 ? Double(step) / Double(total - 1) : 0
        let hardFrom = Int((1 - s.hardLabelFraction) * Double(total))
        let alpha = s.hardLabelFraction > 0 && step >= hardFrom ? 0 : s.alpha
        return (alpha, s.temperature.temperature(at: progress))
    }

    /// Trains until the budget is spent (or `Distillation.interrupted`). `progress` receives each
    /// step; `evaluated` each validation. Returns true when the budget was completed.
    @discardableResult
    public func run(progress: (DistillStep, DistillState, Double) -> Void = { _, _, _ in },
                    evaluated: (DistillEvaluation) -> Void = { _ in }) throws -> Bool {
        let s = state.settings
        let clock = ContinuousClock()
        let start = clock.now
        let startElapsed = state.elapsedSeconds
        if state.totalSteps == nil, let maxTokens = s.maxTokens {
            setTotalSteps(max(1, maxTokens / s.tokensPerStep))
        }
        let perStep = s.batch * s.accumulation
        if s.windowLimit != nil {
            // Every window will be trained on (and again in later epochs): fill the cache first, so
            // step times (and a time budget's schedule) measure training alone.
            // Chunks of 16 windows keep Ctrl-C responsive; the cache commits each window.
            let fillStart = clock.now
            for first in stride(from: 0, to: windows.count, by: 16) {
                if Self.interrupted {
                    state.cacheFillSeconds = (state.cacheFillSeconds ?? 0) + fillStart.duration(to: clock.now).seconds
                    state.elapsedSeconds = startElapsed + start.duration(to: clock.now).seconds
                    try writeCheckpoint()
                    return false
                }
                try signal.prepare(windows: first ..< min(first + 16, windows.count))
            }
            state.cacheFillSeconds = (state.cacheFillSeconds ?? 0) + fillStart.duration(to: clock.now).seconds
        }
        while true {
            let elapsed = startElapsed + start.duration(to: clock.now).seconds
            if let total = state.totalSteps, state.step >= total { break }
            if let minutes = s.maxMinutes, elapsed >= minutes * 60 { break }
            if Self.interrupted {
                state.elapsedSeconds = elapsed
                try writeCheckpoint()
                return false
            }
            let first = state.step * perStep
            try signal.prepare(windows: first ..< first + perStep)
            let total = state.totalSteps ?? max(state.step + 1, 1_000_000)
            let (alpha, tau) = mix(step: state.step, total: total)
            let report = try trainStep(firstWindow: first, alpha: alpha, temperature: tau)
            state.step = report.step
            state.tokensSeen += s.tokensPerStep
            let logged = DistillStep(step: report.step, loss: report.loss, crossEntropy: report.parts["ce"] ?? 0,
                                     distillation: report.parts["kd"] ?? 0, gradientNorm: report.gradientNorm,
                                     learningRate: report.learningRate, temperature: tau, alpha: alpha,
                                     hidden: report.parts["hidden"])
            state.history.append(logged)
            state.elapsedSeconds = startElapsed + start.duration(to: clock.now).seconds
            // A time-only budget sets the schedule's length from the measured step time: first after
            // 3 steps, then re-estimated every 10 steps over the first half of the run (the machine's
            // speed can change while it runs), from the seconds per step so far.
            if s.maxTokens == nil, let minutes = s.maxMinutes,
               (state.totalSteps == nil && state.step == 3)
                || (state.totalSteps != nil && state.step % 10 == 0 && state.step * 2 < state.totalSteps!) {
                let perStepSeconds = (state.elapsedSeconds - (state.cacheFillSeconds ?? 0)) / Double(state.step)
                let remaining = max(0, minutes * 60 * 0.98 - state.elapsedSeconds)
                setTotalSteps(max(state.step + 1, state.step + Int(remaining / perStepSeconds)))
            }
            progress(logged, state, state.elapsedSeconds)
            if s.evalEvery > 0, state.step % s.evalEvery == 0, !validation.isEmpty {
                let e = try evaluate(tokens: validationSample)
                state.evaluations.append(e)
                evaluated(e)
            }
            if s.checkpointEvery > 0, state.step % s.checkpointEvery == 0 { try writeCheckpoint() }
        }
        try writeCheckpoint()
        return true
    }

    /// One optimizer step over `accumulation` micro-batches starting at window `firstWindow`.
    func trainStep(firstWindow: Int, alpha: Float, temperature tau: Float) throws -> StepReport {
        let s = state.settings
        let t = s.sequenceLength, b = s.batch, k = signal.topK, v = student.config.vocabSize
        var labels = [Int32](repeating: 0, count: b * t)
        var failure: Error?
        let report = trainer.step(tokens: { micro in
            var input: [Int32] = []
            input.reserveCapacity(b * t)
            for j in 0..<b { input += windows.window(firstWindow + micro * b + j) }
            return input
        }) { graph, micro, scale in
            do {
                for j in 0..<b {
                    let w = firstWindow + micro * b + j
                    labels.replaceSubrange(j * t ..< (j + 1) * t, with: windows.labels(w))
                    if k > 0 {
                        try signal.sparse(window: w % windows.count, ids: ids + j * t * k, logProbs: logProbs + j * t * k,
                                          rest: rest + j * t)
                    } else if alpha > 0 {
                        try signal.logits(window: w % windows.count, into: teacherLogits!.pointer + j * t * v)
                    }
                    try teacherHidden?.compute(Array(windows.window(w)), slot: j)
                }
            } catch {
                failure = error
                return MicroBatchLoss(loss: .nan)
            }
            let loss: LogitsLoss = labels.withUnsafeBufferPointer { lb in
                if k > 0 && alpha > 0 {
                    if tau != 1 {
                        temperSparseTeacher(logProbs, rest, logProbs, rest, rows: b * t, vocab: v, topK: k, temperature: tau)
                    }
                    return fusedSparseDistillationRows(graph.dLogits.pointer, graph.logits.pointer, labels: lb.baseAddress!,
                                                       ids: ids, logProbs: logProbs, rest: rest, topK: k, rows: b * t,
                                                       vocab: v, alpha: alpha, temperature: tau, scale: scale,
                                                       scratch: graph.logitsScratch)
                }
                return fusedDistillationRows(graph.dLogits.pointer, graph.logits.pointer, labels: lb.baseAddress!,
                                             teacher: alpha > 0 ? UnsafePointer(teacherLogits!.pointer) : nil,
                                             rows: b * t, vocab: v, alpha: alpha, temperature: tau, scale: scale,
                                             scratch: graph.logitsScratch)
            }
            guard let teacherHidden, let beta = s.hiddenWeight else {
                return MicroBatchLoss(loss: loss.total, parts: ["ce": loss.crossEntropy, "kd": loss.distillation])
            }
            let hidden = hiddenDistillationTerm(graph: graph, teacher: teacherHidden, kind: s.hiddenLoss ?? .cosine, beta: beta,
                                                scale: scale, gradients: hiddenGradients, losses: hiddenLosses!.pointer)
            return MicroBatchLoss(loss: loss.total + Double(beta) * hidden,
                                  parts: ["ce": loss.crossEntropy, "kd": loss.distillation, "hidden": hidden],
                                  hidden: zip(teacherHidden.map.studentLayers, hiddenGradients).map { ($0, UnsafePointer($1.pointer)) })
        }
        if let failure { throw failure }
        return report
    }

    /// The validation tokens evaluated every `evalEvery` steps (`validationSample`): ⌈evalTokens / T⌉ windows of T =
    /// `sequenceLength` tokens at evenly spaced offsets across the whole text, concatenated (the
    /// evaluation's windows are then exactly these). A text's opening is often not typical of
    /// the rest, so a prefix would misjudge the student; the whole text is used when it is shorter.
    public static func sampleValidation(_ tokens: [Int32], count: Int, window t: Int) -> [Int32] {
        guard count > 0, t > 0, tokens.count > count else { return tokens }
        let windows = (count + t - 1) / t, available = tokens.count / t
        guard windows < available else { return tokens }
        var sample: [Int32] = []
        sample.reserveCapacity(windows * t)
        for w in 0..<windows {
            let start = (w * available / windows) * t
            sample += tokens[start ..< start + t]
        }
        return sample
    }

    /// Student vs teacher on `tokens`: sliding windows of `context` tokens advancing by `stride`
    /// (default: the training length, disjoint).
    public func evaluate(tokens: [Int32], context: Int? = nil, stride: Int? = nil) throws -> DistillEvaluation {
        let t = context ?? state.settings.sequenceLength
        let teacherSession = LlamaSession(model: teacher, capacity: t)
        let studentSession = LlamaSession(model: student, capacity: t)
        let options = PerplexityOptions(context: t, stride: stride ?? t, method: .sliding)
        let r = try evaluateComparison(vocabularySize: student.config.vocabSize, tokens: tokens, bos: nil, options: options,
                                       reference: { w in teacherSession.reset(); return try teacherSession.forward(w, logits: .all) },
                                       candidate: { w in studentSession.reset(); return try studentSession.forward(w, logits: .all) })
        return DistillEvaluation(step: state.step, tokens: r.scoredTokens, perplexity: r.candidate.perplexity,
                                 teacherPerplexity: r.reference.perplexity, klToTeacher: r.meanKL,
                                 top1Agreement: r.top1Agreement)
    }
}

/// The teacher's sparse signal from a teacher cache, filled lazily: a window is computed (and
/// stored for later runs) the first time training reaches it.
public final class CachedTeacher: TeacherSignal {
    public let cache: TeacherCache
    let teacher: LlamaModel
    let tokens: [Int32]
    let progress: ((TeacherCacheProgress) -> Void)?

    /// `tokens` is the ordered stream the cache's key was made from (`TrainingWindows.orderedTokens`).
    public init(cache: TeacherCache, teacher: LlamaModel, tokens: [Int32],
                progress: ((TeacherCacheProgress) -> Void)? = nil) {
        self.cache = cache
        self.teacher = teacher
        self.tokens = tokens
        self.progress = progress
    }

    public var topK: Int { cache.key.topK }

    public func prepare(windows: Range<Int>) throws {
        let count = cache.key.windowCount
        // Later epochs wrap around: everything is cached by then.
        let end = windows.upperBound > count ? count : windows.upperBound
        try cache.ensure(windows: 0 ..< end, teacher: teacher, tokens: tokens, progress: progress)
    }

    public func sparse(window w: Int, ids: UnsafeMutablePointer<Int32>, logProbs: UnsafeMutablePointer<Float>,
                       rest: UnsafeMutablePointer<Float>) throws {
        let window = try cache.window(w % cache.key.windowCount)
        ids.update(from: window.ids, count: window.rows * window.topK)
        logProbs.update(from: window.logProbs, count: window.rows * window.topK)
        rest.update(from: window.rest, count: window.rows)
    }

    public func logits(window w: Int, into out: UnsafeMutablePointer<Float>) throws {
        preconditionFailure("CachedTeacher holds the sparse signal only")
    }
}
