import ArgumentParser
import Foundation
import RetortImport
import RetortModel
import RetortRuntime
import RetortTrain

/// `retort distill`: prune the teacher into a student and train it on the teacher's soft targets.
struct Distill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Distill a teacher (GGUF or .rtm) into a smaller student (.rtm, FP32) on a text corpus.",
        discussion: "Defaults are the documented recipe (docs/DISTILLATION.md). Ctrl-C writes a checkpoint; --resume continues it exactly.")

    // MARK: Inputs and outputs
    @Option(name: .long, help: "Teacher model (GGUF or .rtm).") var teacher: String
    @Option(name: .long, help: "Training text: a file, or a directory whose *.txt files are read in name order.") var data: String
    @Option(name: .long, help: "Validation text for periodic evaluation.") var validation: String?
    @Option(name: .long, help: "Test text for the final report (teacher and student perplexity, KL, top-1).") var test: String?
    @Option(name: .long, help: "Output student (.rtm, FP32).") var out: String
    @Option(name: .long, help: "Report JSON (default: <out>.json; a table goes to standard output).") var report: String?

    // MARK: Student
    @Option(name: .long, help: "Student preset (\(StudentShape.presets.map(\.name).joined(separator: ", "))) or shape 'layers=12,dim=384,heads=6,kv-heads=2,ffn=1024'.")
    var student = StudentShape.defaultPresetName
    @Option(name: .long, help: "Initialisation: pruned (by measured importance) | every-kth (evenly spaced layers, first channels) | random.")
    var initialization = "pruned"
    @Option(name: .long, help: "Calibration sequences (of --seq tokens, from the training text) for measuring importance.")
    var calibrationSequences = 8
    @Option(name: .long, help: "Of those, sequences for the block-skip (depth) measurement (about L/2 + 1 teacher passes each).")
    var depthSequences = 2

    // MARK: Objective
    @Option(name: .long, help: "Weight α of the distillation term in α·τ²·KL + (1−α)·CE (0 = no teacher).") var alpha: Float = 0.5
    @Option(name: .long, help: "Temperature: τ, or 'linear:START:END' / 'cosine:START:END' over the run.") var temperature = "1"
    @Option(name: .long, help: "Teacher signal: top-K tokens per position from the teacher cache (0 = full distribution, teacher run online).")
    var topK = 64
    @Option(name: .long, help: "Fraction of the steps, at the end, trained on hard labels only (second stage).") var hardLabelFraction = 0.0
    @Option(name: .long, help: "Weight β of the hidden-state term (0 = off; pruned or every-kth students; runs the teacher's blocks on every window).")
    var hiddenWeight: Float = 0
    @Option(name: .long, help: "Student blocks aligned with their teacher blocks: all | last | comma-separated indices.") var hiddenLayers = "all"
    @Option(name: .long, help: "Hidden-state comparison: cosine (1 − cos per row) | mse.") var hiddenLoss = "cosine"

    // MARK: Optimisation
    @Option(name: .long, help: "Tokens per sequence.") var seq = 256
    @Option(name: .long, help: "Sequences per micro-batch.") var batch = 1
    @Option(name: .long, help: "Micro-batches per optimizer step.") var accumulation = 4
    @Option(name: .long, help: "Peak learning rate (AdamW).") var lr: Float = 1e-3
    @Option(name: .long, help: "Warm-up steps.") var warmup = 10
    @Option(name: .long, help: "Final learning rate as a fraction of the peak (cosine decay).") var minLrRatio: Float = 0.1
    @Option(name: .long, help: "Decoupled weight decay (matrices and embedding).") var weightDecay: Float = 0.05
    @Option(name: .long, help: "Global gradient-norm clip (0 = off).") var clip = 1.0
    @Option(name: .long, help: "Seed (data order, random initialisation).") var seed: UInt64 = 1

    // MARK: Budget, evaluation, checkpoints
    @Option(name: .long, help: "Train on the first N windows of the shuffled training text only, repeating them in later epochs; their teacher cache is filled before the first step.")
    var windows: Int?
    @Option(name: .long, help: "Stop after this many training tokens.") var maxTokens: Int?
    @Option(name: .long, help: "Stop after this many minutes of training.") var maxMinutes: Double?
    @Option(name: .long, help: "Validate every N steps (0 = never).") var evalEvery = 100
    @Option(name: .long, help: "Validation tokens per evaluation, as windows of --seq spread evenly over the validation text.") var evalTokens = 2048
    @Option(name: .long, help: "Test tokens for the final report (0 = all).") var testTokens = 16_384
    @Option(name: .long, help: "Checkpoint file (default: <out>.ckpt).") var checkpoint: String?
    @Option(name: .long, help: "Checkpoint every N steps.") var checkpointEvery = 50
    @Flag(name: .long, help: "Continue from the checkpoint (same settings; the budget counts across runs).") var resume = false
    @Option(name: .long, help: "Teacher cache directory (default: $RETORT_CACHE/teacher-cache or ~/.cache/retort/teacher-cache).")
    var cacheDir: String?
    @Option(name: .long, help: "Threads (default: all cores).") var threads: Int?

    func validate() throws {
        for (name, path) in [("--teacher", teacher), ("--data", data)] where !FileManager.default.fileExists(atPath: path) {
            throw ValidationError("\(name): no such file or directory '\(path)'")
        }
        for (name, path) in [("--validation", validation), ("--test", test)] {
            if let path, !FileManager.default.fileExists(atPath: path) { throw ValidationError("\(name): no such file '\(path)'") }
        }
        guard out.hasSuffix(".rtm") else { throw ValidationError("--out: expected an .rtm path (got '\(out)')") }
        guard ["pruned", "every-kth", "random"].contains(initialization) else {
            throw ValidationError("--initialization must be pruned, every-kth or random (got '\(initialization)')")
        }
        guard calibrationSequences >= 1, depthSequences >= 0 else {
            throw ValidationError("--calibration-sequences must be ≥ 1 and --depth-sequences ≥ 0")
        }
        guard testTokens >= 0, evalTokens >= 0, evalEvery >= 0, checkpointEvery >= 0 else {
            throw ValidationError("--test-tokens, --eval-tokens, --eval-every and --checkpoint-every must be ≥ 0")
        }
        if let threads, threads < 1 || threads > 256 { throw ValidationError("--threads must be in 1...256") }
        guard HiddenLossKind(rawValue: hiddenLoss) != nil else { throw ValidationError("--hidden-loss must be cosine or mse (got '\(hiddenLoss)')") }
        if hiddenWeight > 0, initialization == "random" {
            throw ValidationError("--hidden-weight needs a pruned or every-kth student: a random student's channels do not map to the teacher's")
        }
        _ = try temperatureSchedule()
        try settings().validate(source: "retort distill")
    }

    func temperatureSchedule() throws -> TemperatureSchedule {
        let parts = temperature.split(separator: ":").map(String.init)
        func number(_ s: String) throws -> Float {
            guard let v = Float(s), v > 0, v.isFinite else { throw ValidationError("--temperature: '\(s)' is not a positive number") }
            return v
        }
        switch (parts.first, parts.count) {
        case (_, 1): return .constant(try number(parts[0]))
        case ("linear", 3): return .linear(start: try number(parts[1]), end: try number(parts[2]))
        case ("cosine", 3): return .cosine(start: try number(parts[1]), end: try number(parts[2]))
        default: throw ValidationError("--temperature: expected τ, linear:START:END or cosine:START:END (got '\(temperature)')")
        }
    }

    func settings() throws -> DistillSettings {
        var s = DistillSettings()
        s.sequenceLength = seq
        s.batch = batch
        s.accumulation = accumulation
        s.peakLearningRate = lr
        s.warmupSteps = warmup
        s.minimumLearningRatio = minLrRatio
        s.weightDecay = weightDecay
        s.maxGradientNorm = clip
        s.alpha = alpha
        s.temperature = try temperatureSchedule()
        s.topK = alpha > 0 ? topK : 0
        s.hardLabelFraction = hardLabelFraction
        s.hiddenWeight = hiddenWeight > 0 ? hiddenWeight : nil
        s.hiddenLoss = hiddenWeight > 0 ? HiddenLossKind(rawValue: hiddenLoss) : nil
        s.windowLimit = windows
        s.maxTokens = maxTokens
        s.maxMinutes = maxMinutes
        s.evalEvery = evalEvery
        s.evalTokens = evalTokens
        s.checkpointEvery = checkpointEvery
        s.seed = seed
        return s
    }

    func run() throws {
        if let threads { HostThreads.set(threads) }
        let clock = ContinuousClock()
        let wallStart = clock.now
        let checkpointPath = checkpoint ?? out + ".ckpt"

        // Teacher and tokenizer.
        note("teacher: \(teacher)")
        let host = try HostModel.open(teacher)
        let tokenizer = try host.tokenizer.makeTokenizer()
        let teacherModel = host.model
        let teacherHash = try SHA256.hex(fileAt: teacher)

        // Data.
        let trainTokens = tokenizer.encode(try readCorpus(data, option: "--data"), addSpecial: false)
        let dataHash = SHA256.hex(TeacherCacheKey.corpusHash(of: trainTokens))
        let validationTokens = try validation.map { tokenizer.encode(try readTextFile($0, option: "--validation"), addSpecial: false) } ?? []
        var settings = try settings()
        let saved = resume ? try Checkpoint.readState(DistillState.self, from: checkpointPath) : nil
        let windows = try TrainingWindows(tokens: trainTokens, length: settings.sequenceLength, seed: settings.seed,
                                          limit: saved.map { $0.settings.windowLimit } ?? settings.windowLimit, source: data)
        let available = (trainTokens.count - 1) / settings.sequenceLength
        note("data: \(trainTokens.count) tokens, \(windows.count)\(windows.count < available ? " of \(available)" : "") windows of \(settings.sequenceLength); " +
             "budget: \(settings.maxTokens.map { "\($0) tokens" } ?? "-") \(settings.maxMinutes.map { "\($0) minutes" } ?? "")")

        // Student: from the checkpoint when resuming, else built from the teacher.
        var state: DistillState
        let studentModel: LlamaModel
        let shape: StudentShape
        if let saved {
            guard saved.provenance["teacher.sha256"] == teacherHash, saved.provenance["data.sha256"] == dataHash else {
                throw ValidationError("--resume: \(checkpointPath) was made from another teacher or data")
            }
            guard saved.settings.sequenceLength == settings.sequenceLength, saved.settings.seed == settings.seed else {
                throw ValidationError("--resume: the checkpoint trains sequences of \(saved.settings.sequenceLength) with seed \(saved.settings.seed); pass the same --seq and --seed")
            }
            settings = saved.settings
            state = saved
            shape = try StudentShape.parse(saved.provenance["student.shape"] ?? "", source: checkpointPath)
            studentModel = LlamaModel(config: shape.config(teacher: teacherModel.config))
            note("resuming \(checkpointPath) at step \(saved.step) (\(saved.tokensSeen) tokens)")
        } else {
            shape = try StudentShape.preset(named: student) ?? StudentShape.parse(student)
            try shape.validate(teacher: teacherModel.config)
            state = DistillState(settings: settings)
            state.provenance["teacher.sha256"] = teacherHash
            state.provenance["teacher.file"] = URL(fileURLWithPath: teacher).lastPathComponent
            state.provenance["data.sha256"] = dataHash
            state.provenance["data.tokens"] = "\(trainTokens.count)"
            state.provenance["student.shape"] = shape.description
            state.provenance["student.init"] = initialization
            studentModel = try buildStudent(teacher: teacherModel, shape: shape, windows: windows, state: &state)
        }
        let c = studentModel.config
        note(String(format: "student: %@ — %d parameters (%.1f%% of the teacher's %d)", shape.description, c.parameterCount,
                    100 * Double(c.parameterCount) / Double(teacherModel.config.parameterCount), teacherModel.config.parameterCount))

        // Teacher signal.
        let signal: TeacherSignal
        if settings.topK > 0 {
            let ordered = windows.orderedTokens
            let key = try TeacherCacheKey(teacherSHA256: teacherHash, tokens: ordered, topK: settings.topK,
                                          context: settings.sequenceLength, vocab: c.vocabSize)
            let directory = cacheDir ?? defaultCacheDirectory()
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let cache = try TeacherCache.open(directory: directory, key: key)
            note("teacher cache: \(cache.path) (\(cache.completeWindows)/\(key.windowCount) windows cached, top-\(settings.topK))")
            // A line a minute while the teacher fills the cache (up front with --windows, else as training reaches windows).
            let firstMissing = cache.completeWindows
            let fillClock = ContinuousClock()
            let began = fillClock.now
            var lastNote = began
            let upFront = settings.windowLimit != nil
            signal = CachedTeacher(cache: cache, teacher: teacherModel, tokens: ordered) { p in
                let now = fillClock.now
                guard now - lastNote >= .seconds(60) || p.window + 1 == key.windowCount else { return }
                lastNote = now
                let filled = p.window + 1 - firstMissing, seconds = (now - began) / .seconds(1)
                let eta = upFront ? ", ETA " + clockString(seconds / Double(max(filled, 1)) * Double(key.windowCount - p.window - 1)) : ""
                note("  teacher cache: \(p.window + 1)/\(key.windowCount) windows\(eta)")
            }
        } else {
            signal = OnlineTeacher(teacher: teacherModel, windows: windows)
        }

        let distillation = try Distillation(teacher: teacherModel, student: studentModel, windows: windows, signal: signal,
                                            validation: validationTokens, state: state, checkpointPath: checkpointPath)
        if resume {
            try distillation.resume(from: checkpointPath)
            distillation.updateBudget(maxTokens: maxTokens, maxMinutes: maxMinutes)
        }
        signal_(SIGINT) { _ in Distillation.interrupted = true }
        let finished = try distillation.run(progress: { step, state, elapsed in
            note(progressLine(step, state, elapsed))
        }, evaluated: { e in
            note(String(format: "  eval @%d: validation perplexity %.3f (teacher %.3f), KL %.4f, top-1 %.1f%%", e.step,
                        e.perplexity, e.teacherPerplexity, e.klToTeacher, 100 * e.top1Agreement))
        })
        if !finished {
            note("interrupted: checkpoint written to \(checkpointPath); continue with --resume")
            throw ExitCode(130)
        }

        // Final report on the test text.
        var final: DistillEvaluation?
        if let test {
            note("evaluating teacher and student on \(test)…")
            let tokens = tokenizer.encode(try readTextFile(test, option: "--test"), addSpecial: false)
            final = try distillation.evaluate(tokens: testTokens > 0 ? Array(tokens.prefix(testTokens)) : tokens,
                                              context: 512, stride: 256)
        }
        let result = distillation.state
        var method = "distillation: α=\(settings.alpha), τ=\(temperature), top-K \(settings.topK), hard-label fraction \(settings.hardLabelFraction)"
        if let beta = settings.hiddenWeight { method += ", hidden β=\(beta) (\((settings.hiddenLoss ?? .cosine).rawValue))" }
        let provenance: [(String, RTMValue)] = result.provenance.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) } + [
            ("method", .string(method)),
            ("tool", .string("retort distill")),
            ("train.steps", .int(Int64(result.step))),
            ("train.tokens", .int(Int64(result.tokensSeen))),
            ("train.seconds", .float(result.elapsedSeconds)),
            ("train.final_loss", .float(result.history.last?.loss ?? 0)),
        ] + (final.map { [("quality.test_perplexity", .float($0.perplexity)),
                          ("quality.teacher_test_perplexity", .float($0.teacherPerplexity)),
                          ("quality.kl_to_teacher", .float($0.klToTeacher)),
                          ("quality.top1_agreement", .float($0.top1Agreement)),
                          ("quality.test_tokens", .int(Int64($0.tokens)))] } ?? [])
        let writer = makeRTM(model: studentModel, tokenizer: host.tokenizer, weights: .f32, provenance: provenance)
        let bytes = writer.serialize()
        try writeAtomically(bytes, to: out)

        let summary = DistillReport(
            teacher: teacher, student: out, shape: shape.description, initialization: result.provenance["student.init"] ?? initialization,
            teacherParameters: teacherModel.config.parameterCount, studentParameters: c.parameterCount,
            parameterFraction: Double(c.parameterCount) / Double(teacherModel.config.parameterCount),
            fileBytes: bytes.count, settings: settings, steps: result.step, tokens: result.tokensSeen,
            trainSeconds: result.elapsedSeconds, cacheFillSeconds: result.cacheFillSeconds,
            wallSeconds: wallStart.duration(to: clock.now).seconds,
            tokensPerSecond: Double(result.tokensSeen) / max(result.elapsedSeconds - (result.cacheFillSeconds ?? 0), 1e-9),
            finalLoss: result.history.last?.loss ?? 0, test: final, validation: result.evaluations)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(Array(try encoder.encode(summary)), to: report ?? out + ".json")
        print(summary.table)
    }

    /// The student's initial weights: pruned by measured importance, every k-th, or random.
    func buildStudent(teacher: LlamaModel, shape: StudentShape, windows: TrainingWindows,
                      state: inout DistillState) throws -> LlamaModel {
        let config = shape.config(teacher: teacher.config)
        switch initialization {
        case "random":
            let model = LlamaModel(config: config)
            initializeRandom(model, seed: seed)
            return model
        case "every-kth":
            let plan = try everyKthPlan(teacher: teacher.config, shape: shape)
            state.provenance["student.layers"] = plan.keptLayers.map(String.init).joined(separator: ",")
            try setHiddenMap(plan, &state)
            return try pruneTeacher(teacher, plan: plan)
        default:
            let count = min(calibrationSequences, windows.permutation.count)
            // Calibration from the end of the shuffled order: the first windows are what a short or limited run trains on.
            let sequences = (0..<count).map { Array(windows.calibrationWindow($0)) }
            // Block-skip KL costs about L/2 + 1 teacher forwards per sequence: it uses at most --depth-sequences.
            let depth = min(depthSequences, count)
            note("measuring importance on \(count) × \(windows.length) tokens (block skips on \(depth))…")
            let clock = ContinuousClock()
            let start = clock.now
            let importance = try measureImportance(teacher: teacher, sequences: sequences, depthSequences: depth)
            let plan = try planPruning(importance, teacher: teacher.config, shape: shape)
            note(String(format: "  %.1f s; kept layers %@", start.duration(to: clock.now).seconds,
                        plan.keptLayers.map(String.init).joined(separator: ",")))
            state.provenance["student.layers"] = plan.keptLayers.map(String.init).joined(separator: ",")
            try setHiddenMap(plan, &state)
            return try pruneTeacher(teacher, plan: plan)
        }
    }

    /// With a hidden-state term, records which student blocks align with which teacher blocks.
    func setHiddenMap(_ plan: PruningPlan, _ state: inout DistillState) throws {
        guard hiddenWeight > 0 else { return }
        let layers = try parseHiddenLayers(hiddenLayers, layerCount: plan.keptLayers.count)
        state.hiddenMap = HiddenAlignmentMap(plan: plan, studentLayers: layers)
        state.provenance["student.hidden_layers"] = layers.map(String.init).joined(separator: ",")
    }
}

/// What `retort distill` reports (JSON, and `table` for people).
struct DistillReport: Codable {
    var teacher: String
    var student: String
    var shape: String
    var initialization: String
    var teacherParameters: Int
    var studentParameters: Int
    var parameterFraction: Double
    var fileBytes: Int
    var settings: DistillSettings
    var steps: Int
    var tokens: Int
    /// Budgeted seconds: the up-front teacher cache fill (with --windows), then training.
    var trainSeconds: Double
    var cacheFillSeconds: Double?
    var wallSeconds: Double
    var tokensPerSecond: Double
    var finalLoss: Double
    var test: DistillEvaluation?
    var validation: [DistillEvaluation]

    var table: String {
        var lines = [
            "",
            "                      teacher        student",
            String(format: "parameters      %13d  %13d  (%.1f%%)", teacherParameters, studentParameters, 100 * parameterFraction),
        ]
        if let t = test {
            lines.append(String(format: "test perplexity %13.3f  %13.3f  (%d tokens)", t.teacherPerplexity, t.perplexity, t.tokens))
            lines.append(String(format: "KL to teacher   %13s  %13.4f", "-", t.klToTeacher))
            lines.append(String(format: "top-1 agreement %13s  %12.1f%%", "-", 100 * t.top1Agreement))
        }
        lines.append(String(format: "student file    %13s  %10.1f MiB  %@", "", Double(fileBytes) / 1_048_576, student))
        if let fill = cacheFillSeconds {
            lines.append(String(format: "teacher cache   filled before training in %.1f min", fill / 60))
        }
        lines.append(String(format: "training        %d steps, %d tokens, %.1f min, %.0f tokens/s, final loss %.4f",
                            steps, tokens, (trainSeconds - (cacheFillSeconds ?? 0)) / 60, tokensPerSecond, finalLoss))
        return lines.joined(separator: "\n")
    }
}

/// One progress line: step, loss parts, rate, throughput, elapsed and ETA.
func progressLine(_ s: DistillStep, _ state: DistillState, _ elapsed: Double) -> String {
    let total = state.totalSteps
    let training = elapsed - (state.cacheFillSeconds ?? 0)   // without an up-front cache fill
    let perStep = training / Double(max(state.history.count, 1))
    let eta = total.map { Double(max(0, $0 - s.step)) * perStep } ?? 0
    let rate = training > 0 ? Double(state.tokensSeen) / training : 0
    let hidden = s.hidden.map { String(format: ", hidden %.4f", $0) } ?? ""
    return String(format: "step %5d/%@  loss %.4f (ce %.4f, kd %.4f%@)  lr %.2e  |g| %.2f  τ %.2f  %5.0f tok/s  %@ elapsed, ETA %@",
                  s.step, total.map(String.init) ?? "?", s.loss, s.crossEntropy, s.distillation, hidden, Double(s.learningRate),
                  s.gradientNorm, Double(s.temperature), rate, clockString(elapsed), total == nil ? "?" : clockString(eta))
}

func clockString(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}

/// Text of a file, or of a directory's *.txt files in name order.
func readCorpus(_ path: String, option: String) throws -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw ValidationError("\(option): no such file or directory '\(path)'")
    }
    guard isDirectory.boolValue else { return try readTextFile(path, option: option) }
    let names = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".txt") }.sorted()
    guard !names.isEmpty else { throw ValidationError("\(option): no .txt files in '\(path)'") }
    var bytes: [UInt8] = []
    for name in names { bytes += try readTextFile(path + "/" + name, option: option) }
    return bytes
}

func defaultCacheDirectory() -> String {
    let base = ProcessInfo.processInfo.environment["RETORT_CACHE"] ?? (NSHomeDirectory() + "/.cache/retort")
    return base + "/teacher-cache"
}

/// Installs a C signal handler (no captures).
func signal_(_ number: Int32, _ handler: @convention(c) (Int32) -> Void) {
    signal(number, handler)
}
