import RetortModel
import RetortRuntime

/// How much quality one group of matrices costs when only it is quantized (everything else f32),
/// measured by RetortRuntime against cached FP32 reference logits.
public struct SensitivityEntry: Sendable, Codable {
    public var unit: String
    public var tensors: [String]
    public var meanKL: Double
    public var perplexityRatio: Double
    /// Extra bytes of keeping these tensors in f16 instead of int8 (data only).
    public var keepF16Bytes: Int
}

/// Units of a sensitivity run: one per layer (its 7 matrices) plus the embedding/head, or one per matrix.
public enum SensitivityGranularity: String, Sendable, CaseIterable {
    case layer, matrix
}

public func sensitivityUnits(_ model: LlamaModel, granularity: SensitivityGranularity) -> [(String, [String])] {
    let names = matrixNames(model)
    switch granularity {
    case .matrix:
        return names.map { ($0, [$0]) }
    case .layer:
        var units: [(String, [String])] = []
        for l in 0..<model.config.layerCount {
            units.append(("blk.\(l)", names.filter { $0.hasPrefix("blk.\(l).") }))
        }
        units.append(("embedding/head", names.filter { !$0.hasPrefix("blk.") }))
        return units
    }
}

/// Quantizes each unit alone with `options` and measures it; sorted most sensitive first.
public func measureSensitivity(_ calibrated: CalibratedModel, tokenizer: TokenizerDefinition, options: QuantizationOptions,
                               reference: CachedReference, units: [(String, [String])], pool: ThreadPool,
                               log: ((String) -> Void)? = nil) throws -> [SensitivityEntry] {
    var entries: [SensitivityEntry] = []
    let sizes = Dictionary(uniqueKeysWithValues: calibrated.model.tensorTable.map { ($0.name, $0.buffer.count) })
    for (i, (unit, tensors)) in units.enumerated() {
        let set = Set(tensors)
        let writer = makeQuantizedRTM(calibrated, tokenizer: tokenizer, options: options) { set.contains($0) }
        let model = try runtimeModel(writer, name: "sensitivity:\(unit)")
        let r = try reference.compare(model, pool: pool)
        let entry = SensitivityEntry(unit: unit, tensors: tensors, meanKL: r.meanKL,
                                     perplexityRatio: r.candidate.perplexity / r.reference.perplexity,
                                     keepF16Bytes: tensors.reduce(0) { $0 + (sizes[$1] ?? 0) })
        entries.append(entry)
        log?("sensitivity [\(i + 1)/\(units.count)] \(unit): KL \(entry.meanKL), perplexity ×\(entry.perplexityRatio)")
    }
    return entries.sorted { $0.meanKL > $1.meanKL }
}
