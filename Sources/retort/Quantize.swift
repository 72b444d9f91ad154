import ArgumentParser
import Foundation
import RetortImport
import RetortModel
import RetortQuantize
import RetortRuntime

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "INT8 post-training quantization with calibration (docs/QUANTIZATION.md).",
        discussion: """
        Calibrates an FP32 model (GGUF or .rtm) on sequences drawn from --calibration, writes an \
        INT8 .rtm, then measures it with RetortRuntime against the FP32 model on --eval-text \
        (perplexity of both, KL(FP32 ‖ INT8), top-1 agreement) and records the result in the file's \
        provenance and, with --report, as one JSON line per run. The defaults are the best recipe \
        measured on the teacher.
        """)

    @Option(name: .long, help: "FP32 model: GGUF or .rtm.")
    var model: String

    @Option(name: .long, help: "Calibration text (default recipe: the train split).")
    var calibration: String

    @Option(name: .long, help: "Output .rtm file.")
    var out: String

    @Option(name: .long, help: "Calibration recipe file (key = value: text, sequences, length, seed); options below override it.")
    var recipe: String?

    @Option(name: .long, help: "Calibration sequences (default 32).")
    var sequences: Int?

    @Option(name: .long, help: "Tokens per calibration sequence (default 512).")
    var length: Int?

    @Option(name: .long, help: "Seed for drawing calibration sequences (default 1).")
    var seed: UInt64?

    @Option(name: .long, help: "dynamic (per-token scale at run time) | static (calibrated per-tensor scale in the file).")
    var activations = "dynamic"

    @Option(name: .long, help: "Static activations: minmax | percentile | entropy | mse.")
    var calibrator = "mse"

    @Option(name: .long, help: "Percentile for --calibrator percentile.")
    var percentile = 99.99

    @Option(name: .long, help: "Weight scales: one per output channel (0) or one per group of N inputs (a power of two ≥ 16).")
    var groupSize = 0

    @Option(name: .long, help: "Group size for the token embedding / tied output head (default: --group-size).")
    var embeddingGroupSize: Int?

    @Flag(name: .long, inversion: .prefixedNo, help: "Search a clip ratio per weight row/group that minimizes its squared error.")
    var weightClip = false

    @Option(name: .long, help: "SmoothQuant: off | auto (per-input α search on the calibration loss) | an α in [0, 1].")
    var smoothquant = "auto"

    @Option(name: .long, help: "Inputs SmoothQuant may smooth (comma-separated): attn_in, attn_out, ffn_in, ffn_down.")
    var smoothInputs = "attn_in,attn_out,ffn_in,ffn_down"

    @Option(name: .long, help: "Tensors to keep in floating point (comma-separated names, e.g. blk.1.ffn_down.weight).")
    var keepFp = ""

    @Option(name: .long, help: "Matrices whose activations get two int8 digits at run time (≈15-bit activations, no size cost): comma-separated names, head, first:N / last:N (every matrix of the first / last N blocks), a matrix kind in every block (ffn_down, attn_output, …), all or none.")
    var twoDigit = "head"

    @Option(name: .long, help: "Also give the N most sensitive int8 matrices two-digit activations (runs a per-matrix sensitivity pass).")
    var twoDigitCount = 0

    @Option(name: .long, help: "Also keep the N most sensitive matrices in floating point (runs a per-matrix sensitivity pass).")
    var keepFpCount = 0

    @Option(name: .long, help: "dtype of kept tensors: f16 | f32.")
    var keepDtype = "f16"

    @Option(name: .long, help: "Run a sensitivity pass (layer | matrix) and put it in the report.")
    var sensitivity: String?

    @Option(name: .long, help: "Tokens of calibration text scored per sensitivity run.")
    var sensitivityTokens = 1024

    @Option(name: .long, help: "Held-out text for the quality measurement (default: none, no evaluation).")
    var evalText: String?

    @Option(name: .long, help: "Evaluate only the first N tokens of --eval-text.")
    var maxTokens: Int?

    @Option(name: .long, help: "Evaluation window length in tokens (sliding protocol, stride context/2).")
    var context = 512

    @Option(name: .long, help: "Append the run to this JSON-lines report and print the report's table.")
    var report: String?

    @Option(name: .long, help: "Name of the run in the report.")
    var label: String?

    @Option(name: .long, help: "Threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        for (option, path) in [("--model", model), ("--calibration", calibration)] + [("--eval-text", evalText), ("--recipe", recipe)].compactMap({ o, p in p.map { (o, $0) } }) {
            guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("\(option): no such file '\(path)'") }
        }
        guard out.hasSuffix(".rtm") else { throw ValidationError("--out: expected an .rtm path (got '\(out)')") }
        guard ActivationMode(rawValue: activations) != nil else { throw ValidationError("--activations must be dynamic or static") }
        guard Calibrator(name: calibrator, percentile: percentile) != nil else {
            throw ValidationError("--calibrator must be one of: minmax, percentile, entropy, mse")
        }
        guard percentile > 0 && percentile <= 100 else { throw ValidationError("--percentile must be in (0, 100]") }
        for (option, g) in [("--group-size", groupSize), ("--embedding-group-size", embeddingGroupSize ?? 0)] where g != 0 {
            guard g >= 16 && g & (g - 1) == 0 else { throw ValidationError("\(option) must be 0 or a power of two ≥ 16 (got \(g))") }
        }
        _ = try parsedSmoothing()
        _ = try parsedSmoothInputs()
        guard ["f16", "f32"].contains(keepDtype) else { throw ValidationError("--keep-dtype must be f16 or f32") }
        guard keepFpCount >= 0 else { throw ValidationError("--keep-fp-count must be ≥ 0") }
        guard twoDigitCount >= 0 else { throw ValidationError("--two-digit-count must be ≥ 0") }
        if let sensitivity, SensitivityGranularity(rawValue: sensitivity) == nil {
            throw ValidationError("--sensitivity must be layer or matrix")
        }
        guard sensitivityTokens >= 16 else { throw ValidationError("--sensitivity-tokens must be ≥ 16") }
        guard context >= 4 && context <= 1 << 16 else { throw ValidationError("--context must be in 4...65536") }
        if let maxTokens, maxTokens < 2 { throw ValidationError("--max-tokens must be ≥ 2") }
        if let sequences, sequences < 1 { throw ValidationError("--sequences must be ≥ 1") }
        if let length, length < 2 || length > 1 << 16 { throw ValidationError("--length must be in 2...65536") }
        if let threads, threads < 1 || threads > 256 { throw ValidationError("--threads must be in 1...256") }
    }

    func parsedSmoothing() throws -> Smoothing {
        switch smoothquant {
        case "off": return .off
        case "auto": return .search(Smoothing.defaultGrid)
        default:
            guard let a = Float(smoothquant), a >= 0, a <= 1 else {
                throw ValidationError("--smoothquant must be off, auto or an α in [0, 1] (got '\(smoothquant)')")
            }
            return .alpha(a)
        }
    }

    func parsedSmoothInputs() throws -> [LlamaSession.MatmulInput] {
        try smoothInputs.split(separator: ",").map { name in
            guard let input = LlamaSession.MatmulInput(rawValue: String(name)), smoothableInputs.contains(input) else {
                throw ValidationError("--smooth-inputs: unknown input '\(name)' (attn_in, attn_out, ffn_in, ffn_down)")
            }
            return input
        }
    }

    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
        HostThreads.set(threadCount)
        let pool = ThreadPool(threads: threadCount)

        // Model and tokenizer.
        let source = try HostModel.open(model)
        let tokenizer = try source.tokenizer.makeTokenizer()
        let c = source.model.config
        note("loaded \(model): \(c.parameterCount) parameters")

        // Calibration data.
        var recipeValues = CalibrationRecipe()
        if let recipe {
            recipeValues = try CalibrationRecipe(parsing: String(decoding: try readTextFile(recipe, option: "--recipe"), as: UTF8.self), file: recipe)
        }
        if let sequences { recipeValues.sequences = sequences }
        if let length { recipeValues.length = length }
        if let seed { recipeValues.seed = seed }
        let calibrationBytes = try readTextFile(calibration, option: "--calibration")
        let calibrationTokens = tokenizer.encode(calibrationBytes, addSpecial: false)
        let drawn = try drawCalibrationSequences(tokens: calibrationTokens, recipe: recipeValues, source: calibration)
        let calibrationHash = SHA256.hex(calibrationBytes)
        var drawnBytes: [UInt8] = []
        for s in drawn { for t in s { withUnsafeBytes(of: t.littleEndian) { drawnBytes += $0 } } }
        let sampleHash = SHA256.hex(drawnBytes)
        note("calibration: \(drawn.count) sequences × \(recipeValues.length) tokens (seed \(recipeValues.seed)) from \(calibration) (\(calibrationTokens.count) tokens)")

        // Options.
        var options = QuantizationOptions()
        options.weights = groupSize == 0 ? .perChannel : .perGroup(groupSize)
        if let embeddingGroupSize { options.embeddingWeights = embeddingGroupSize == 0 ? .perChannel : .perGroup(embeddingGroupSize) }
        options.weightClipSearch = weightClip
        options.activations = ActivationMode(rawValue: activations)!
        options.calibrator = Calibrator(name: calibrator, percentile: percentile)!
        options.smoothing = try parsedSmoothing()
        options.smoothInputs = try parsedSmoothInputs()
        options.keepFP = keepFp.split(separator: ",").map(String.init)
        options.keepDType = keepDtype == "f32" ? .f32 : .f16
        let known = Set(matrixNames(source.model))
        for name in options.keepFP where !known.contains(name) {
            throw ValidationError("--keep-fp: '\(name)' is not a matrix of \(model)")
        }
        let head = known.contains("output.weight") ? "output.weight" : "token_embd.weight"
        for item in twoDigit.split(separator: ",").map(String.init) {
            switch item {
            case "none": continue
            case "all": options.twoDigit = matrixNames(source.model)
            case "head": if !options.twoDigit.contains(head) { options.twoDigit.append(head) }
            case let range where range.hasPrefix("first:") || range.hasPrefix("last:"):
                let layers = source.model.config.layerCount
                guard let n = Int(range.split(separator: ":").last ?? ""), n >= 0, n <= layers else {
                    throw ValidationError("--two-digit: '\(range)' needs a block count in 0...\(layers)")
                }
                let blocks = range.hasPrefix("first:") ? Array(0..<n) : Array(layers - n ..< layers)
                for b in blocks {
                    for name in matrixNames(source.model) where name.hasPrefix("blk.\(b).") && !options.twoDigit.contains(name) {
                        options.twoDigit.append(name)
                    }
                }
            case let kind where ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"].contains(kind):
                for name in matrixNames(source.model) where name.hasSuffix("." + kind + ".weight") && !options.twoDigit.contains(name) {
                    options.twoDigit.append(name)
                }
            default:
                guard known.contains(item) else {
                    throw ValidationError("--two-digit: '\(item)' is not a matrix of \(model) (or head, first:N, last:N, a matrix kind such as ffn_down, all, none)")
                }
                if !options.twoDigit.contains(item) { options.twoDigit.append(item) }
            }
        }

        let calibrated = try calibrate(model: source.model, sequences: drawn, options: options, pool: pool) { note($0) }
        if !calibrated.smoothing.isEmpty {
            let chosen = calibrated.smoothing.map { $0.alpha.map { formatAlpha($0) } ?? "none" }
            let counts = Dictionary(chosen.map { ($0, 1) }, uniquingKeysWith: +).sorted { $0.key < $1.key }
            note("smoothing: " + counts.map { "α \($0.key): \($0.value)" }.joined(separator: ", "))
        }

        // Sensitivity (optional) and keep-fp by sensitivity.
        var sensitivityEntries: [SensitivityEntry]?
        let granularity = keepFpCount > 0 || twoDigitCount > 0 ? .matrix : sensitivity.flatMap(SensitivityGranularity.init(rawValue:))
        if let granularity {
            let windowTokens = Array(drawn.joined().prefix(sensitivityTokens))
            let reference = try CachedReference(model: source.model, tokens: windowTokens, bos: nil,
                                                options: PerplexityOptions(context: min(context, recipeValues.length)))
            let entries = try measureSensitivity(calibrated, tokenizer: source.tokenizer, options: options, reference: reference,
                                                 units: sensitivityUnits(calibrated.model, granularity: granularity), pool: pool) { note($0) }
            sensitivityEntries = entries
            print("sensitivity (\(granularity.rawValue), \(windowTokens.count) calibration tokens, most sensitive first):")
            for e in entries.prefix(20) {
                print("  \(e.unit): KL \(String(format: "%.5f", e.meanKL)), perplexity ×\(String(format: "%.4f", e.perplexityRatio))")
            }
            if keepFpCount > 0 {
                for e in entries.prefix(keepFpCount) where !options.keepFP.contains(e.unit) { options.keepFP.append(e.unit) }
            }
            if twoDigitCount > 0 {
                let candidates = entries.filter { !options.keepFP.contains($0.unit) && !options.twoDigit.contains($0.unit) }
                options.twoDigit += candidates.prefix(twoDigitCount).map(\.unit)
            }
        }

        // The file.
        var provenance: [(String, RTMValue)] = [
            ("tool", .string("retort quantize")),
            ("method", .string("post-training quantization: " + options.summary)),
            ("source.file", .string(URL(fileURLWithPath: model).lastPathComponent)),
            ("source.sha256", .string(try SHA256.hex(fileAt: model))),
            ("quant.method", .string(options.summary)),
            ("quant.activations", .string(options.activations.rawValue)),
            ("calibration.method", .string(calibrationMethod(options))),
            ("calibration.data_sha256", .string(calibrationHash)),
            ("calibration.sample_sha256", .string(sampleHash)),
            ("calibration.tokens", .int(Int64(calibrated.calibrationTokens))),
            ("calibration.sequences", .int(Int64(drawn.count))),
            ("calibration.length", .int(Int64(recipeValues.length))),
            ("calibration.seed", .int(Int64(recipeValues.seed))),
        ]
        var writer = makeQuantizedRTM(calibrated, tokenizer: source.tokenizer, options: options, provenance: provenance)
        let fp32Bytes = makeRTM(model: source.model, tokenizer: source.tokenizer, weights: .f32).serialize().count

        // Quality through the runtime, on exactly these tensors.
        var quality: RetortModel.ComparisonResult?
        if let evalText {
            let text = try readTextFile(evalText, option: "--eval-text")
            let tokens = tokenizer.encode(text, addSpecial: false)
            let candidate = try runtimeModel(writer, name: out)
            let bos = tokenizer.addBOS ? tokenizer.bosID : nil
            let options = PerplexityOptions(context: context, maxTokens: maxTokens)
            let result = try evaluateOnRuntime(reference: source.model, candidate: candidate, tokens: tokens, bos: bos,
                                               options: options, pool: pool, source: evalText) { done, total in
                if done == total || done % max(1, total / 10) == 0 { note("[eval \(done)/\(total)]") }
            }
            quality = result
            provenance += [
                ("quality.eval_data_sha256", .string(SHA256.hex(text))),
                ("quality.eval_tokens", .int(Int64(result.reference.textTokens))),
                ("quality.perplexity", .float(result.candidate.perplexity)),
                ("quality.source_perplexity", .float(result.reference.perplexity)),
                ("quality.kl", .float(result.meanKL)),
                ("quality.top1_agreement", .float(result.top1Agreement)),
            ]
            for (key, value) in provenance { writer.set("provenance." + key, value) }
        }
        let bytes = writer.serialize()
        try writeAtomically(bytes, to: out)
        let seconds = start.duration(to: clock.now).seconds
        print("wrote \(out): \(bytes.count) bytes (\(format(100 * Double(bytes.count) / Double(fp32Bytes)))% of the FP32 .rtm, \(fp32Bytes) bytes)")
        print("recipe: \(options.summary)")
        if let quality {
            print("eval: \(evalText!) (\(quality.reference.textTokens) tokens, \(quality.scoredTokens) scored)")
            print("perplexity FP32 \(format(quality.reference.perplexity, 3)), INT8 \(format(quality.candidate.perplexity, 3)) (×\(format(quality.candidate.perplexity / quality.reference.perplexity, 4)))")
            print("KL(FP32 ‖ INT8) \(format(quality.meanKL, 5)) nats, top-1 agreement \(format(100 * quality.top1Agreement))%")
        }
        if let report {
            let run = QuantizationRunReport(
                label: label ?? URL(fileURLWithPath: out).deletingPathExtension().lastPathComponent,
                command: CommandLine.arguments.dropFirst().joined(separator: " "), recipe: options.summary, file: out,
                fileBytes: bytes.count, fp32FileBytes: fp32Bytes, calibrationTokens: calibrated.calibrationTokens,
                calibrationSHA256: calibrationHash, evalText: evalText ?? "", evalTokens: quality?.reference.textTokens ?? 0,
                referencePerplexity: quality?.reference.perplexity ?? 0, perplexity: quality?.candidate.perplexity ?? 0,
                meanKL: quality?.meanKL ?? 0, top1Agreement: quality?.top1Agreement ?? 0, seconds: seconds,
                sensitivity: sensitivityEntries)
            try appendReport(run, path: report)
            print(reportTable(try readReport(path: report)))
        }
        note("done in \(format(seconds, 1)) s")
    }

    func calibrationMethod(_ o: QuantizationOptions) -> String {
        var parts: [String] = []
        if o.smoothing != .off { parts.append(o.smoothing.description) }
        parts.append(o.activations == .static ? o.calibrator.description : "dynamic-per-token")
        return parts.joined(separator: "+")
    }
}

private func formatAlpha(_ a: Float) -> String { String(format: "%.2f", a) }
