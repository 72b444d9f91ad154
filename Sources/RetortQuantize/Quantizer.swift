import RetortModel
import RetortRuntime

/// Activations of int8 matrices: quantized per token at run time, or with a calibrated
/// per-tensor scale stored in the file.
public enum ActivationMode: String, Sendable, CaseIterable {
    case dynamic, `static`
}

/// Everything that decides how a model is quantized (a recipe, minus the calibration data).
public struct QuantizationOptions: Sendable {
    public var weights: WeightScheme = .perChannel
    /// Weight scheme of the token embedding (the output head too when tied); nil = `weights`.
    public var embeddingWeights: WeightScheme?
    /// Per-block clip search for weights (`quantizeWeights(clipSearch:)`).
    public var weightClipSearch = false
    public var activations: ActivationMode = .dynamic
    /// Static activations only: how each input's range is chosen.
    public var calibrator: Calibrator = .minMax
    public var smoothing: Smoothing = .off
    public var smoothInputs: [LlamaSession.MatmulInput] = smoothableInputs
    /// Tensors stored in `keepDType` (f16 or f32) instead of int8.
    public var keepFP: [String] = []
    public var keepDType: RTMDType = .f16
    /// int8 tensors whose activations get two int8 digits at run time (dynamic, about 15 bits;
    /// same file size, roughly twice the activation work of those matrices).
    public var twoDigit: [String] = []

    public init() {}

    /// A one-line name of the recipe, also written to the file's provenance.
    public var summary: String {
        var parts = ["W8A8-\(activations.rawValue)", "weights \(weights)"]
        if let embeddingWeights, embeddingWeights != weights { parts.append("embedding \(embeddingWeights)") }
        if weightClipSearch { parts.append("weight clip search") }
        if activations == .static { parts.append("calibrator \(calibrator)") }
        if smoothing != .off {
            parts.append(smoothing.description + (smoothInputs == smoothableInputs ? "" : " on " + smoothInputs.map(\.rawValue).joined(separator: ",")))
        }
        if !keepFP.isEmpty { parts.append("keep-fp \(keepDType) \(keepFP.count): " + keepFP.joined(separator: ",")) }
        if !twoDigit.isEmpty { parts.append("two-digit activations \(twoDigit.count): " + twoDigit.joined(separator: ",")) }
        return parts.joined(separator: ", ")
    }
}

/// Which site's observer gives a tensor its activation statistics.
func inputSite(of name: String, config c: LlamaConfig) -> (layer: Int, input: LlamaSession.MatmulInput)? {
    if name == "token_embd.weight" || name == "output.weight" { return (c.layerCount, .head) }
    guard name.hasPrefix("blk.") else { return nil }
    let parts = name.split(separator: ".")
    guard parts.count == 4, let layer = Int(parts[1]) else { return nil }
    switch parts[2] {
    case "attn_q", "attn_k", "attn_v": return (layer, .attentionInput)
    case "attn_output": return (layer, .attentionOutput)
    case "ffn_gate", "ffn_up": return (layer, .mlpInput)
    case "ffn_down": return (layer, .mlpDown)
    default: return nil
    }
}

/// The matrices that read one input site of block `layer`.
func consumerNames(layer l: Int, input: LlamaSession.MatmulInput) -> [String] {
    let kinds: [String]
    switch input {
    case .attentionInput: kinds = ["attn_q", "attn_k", "attn_v"]
    case .attentionOutput: kinds = ["attn_output"]
    case .mlpInput: kinds = ["ffn_gate", "ffn_up"]
    case .mlpDown: kinds = ["ffn_down"]
    case .head: return []
    }
    return kinds.map { "blk.\(l).\($0).weight" }
}

/// Names of the model's matrices (rank-2 tensors), in file order.
public func matrixNames(_ model: LlamaModel) -> [String] {
    model.tensorTable.filter { $0.dims.count == 2 }.map(\.name)
}

/// The outcome of calibration: the (possibly smoothed) FP32 model to quantize and the static
/// activation thresholds per tensor.
public struct CalibratedModel: @unchecked Sendable {
    public var model: LlamaModel
    public var smoothing: [SmoothingFactors]
    /// Static clip threshold per tensor name (activation scale = threshold / 127); empty when dynamic.
    public var thresholds: [String: Float]
    public var calibrationTokens: Int
}

/// Calibrates `model` on `sequences` (host FP32 forward with observers): SmoothQuant factors
/// (folded into a copy of the model) and, for static activations, per-input clip thresholds.
public func calibrate(model: LlamaModel, sequences: [[Int32]], options: QuantizationOptions, pool: ThreadPool? = nil,
                      log: ((String) -> Void)? = nil) throws -> CalibratedModel {
    let c = model.config
    var target = model
    var factors: [SmoothingFactors] = []
    let tokens = sequences.reduce(0) { $0 + $1.count }
    var observers: ModelObservers?
    if options.smoothing != .off {
        let sampleRows = 512
        let every = max(1, tokens / sampleRows)
        let o = ModelObservers(config: c, sampleCap: { if case .search = options.smoothing { sampleRows } else { 0 } }(), sampleEvery: every)
        o.histograms = false
        try o.run(model: model, sequences: sequences) { done, total in log?("calibration pass 1 (channel abs-max): \(done)/\(total)") }
        // An input whose every consumer has two-digit activations is left unsmoothed: its
        // activations barely lose precision, and smoothing would only make the weights harder.
        let twoDigit = Set(options.twoDigit)
        factors = smoothingFactors(model: model, observers: o, smoothing: options.smoothing, inputs: options.smoothInputs,
                                   weights: options.weights, activations: options.activations, calibrator: options.calibrator,
                                   pool: pool) { layer, input in
            let names = consumerNames(layer: layer, input: input)
            return !names.isEmpty && names.allSatisfy(twoDigit.contains)
        }
        target = copyModel(model)
        applySmoothing(target, factors)
    }
    var thresholds: [String: Float] = [:]
    if options.activations == .static {
        let o = ModelObservers(config: c)
        try o.run(model: target, sequences: sequences) { done, total in log?("calibration pass (histograms): \(done)/\(total)") }
        observers = o
        for name in matrixNames(target) {
            guard let site = inputSite(of: name, config: c) else { continue }
            thresholds[name] = options.calibrator.threshold(o[site.layer, site.input].histogram)
        }
    }
    _ = observers
    return CalibratedModel(model: target, smoothing: factors, thresholds: thresholds, calibrationTokens: tokens)
}

/// Builds the .rtm writer of a calibrated model: matrices in int8 (or kept in f16/f32), norm
/// vectors in f32, static activation scales in the tensor records. `quantize(name)` = false
/// keeps a matrix in f32 regardless of the options (sensitivity runs).
public func makeQuantizedRTM(_ calibrated: CalibratedModel, tokenizer: TokenizerDefinition, options: QuantizationOptions,
                             provenance: [(String, RTMValue)] = [],
                             quantize: (String) -> Bool = { _ in true }) -> RTMWriter {
    let model = calibrated.model
    var w = rtmModelWriter(config: model.config, tokenizer: tokenizer)
    w.set("provenance.weights", .string("int8"))
    for (key, value) in provenance { w.set("provenance." + key, value) }
    for entry in model.tensorTable {
        let values = UnsafeBufferPointer(entry.buffer.buffer)
        let (rows, cols) = (entry.dims.count == 2 ? entry.dims[1] : 1, entry.dims[0])
        if entry.dims.count == 1 || !quantize(entry.name) {
            w.addTensor(name: entry.name, dtype: .f32, dims: entry.dims, data: floatBytes(values))
        } else if options.keepFP.contains(entry.name) {
            if options.keepDType == .f32 {
                w.addTensor(name: entry.name, dtype: .f32, dims: entry.dims, data: floatBytes(values))
            } else {
                w.addTensor(name: entry.name, dtype: .f16, dims: entry.dims, data: halfBytes(values))
            }
        } else {
            var scheme = entry.name == "token_embd.weight" || entry.name == "output.weight"
                ? options.embeddingWeights ?? options.weights : options.weights
            if case .perGroup(let g) = scheme, cols % g != 0 { scheme = .perChannel }
            let q = quantizeWeights(entry.buffer.pointer, rows: rows, cols: cols, scheme: scheme, clipSearch: options.weightClipSearch)
            let digits = options.twoDigit.contains(entry.name) ? 2 : 1
            let threshold = digits == 2 ? 0 : calibrated.thresholds[entry.name] ?? 0
            let activationScale: Float = threshold > 0 && threshold.isFinite ? threshold / 127 : 0
            let data = q.q.map { UInt8(bitPattern: $0) }
            switch scheme {
            case .perChannel:
                w.addTensor(name: entry.name, dtype: .int8PerChannel, dims: entry.dims, data: data, scales: q.scales,
                            activationScale: activationScale, activationDigits: digits)
            case .perGroup(let g):
                w.addTensor(name: entry.name, dtype: .int8PerGroup, dims: entry.dims, data: data, scales: q.scales,
                            groupSize: g, activationScale: activationScale, activationDigits: digits)
            }
        }
    }
    return w
}
