import Foundation
import RetortModel

/// One quantization run: its recipe, the file it wrote and the quality RetortRuntime measured.
public struct QuantizationRunReport: Sendable, Codable {
    public var label: String
    public var command: String
    public var recipe: String
    public var file: String
    public var fileBytes: Int
    public var fp32FileBytes: Int
    public var calibrationTokens: Int
    public var calibrationSHA256: String
    public var evalText: String
    public var evalTokens: Int
    public var referencePerplexity: Double
    public var perplexity: Double
    public var meanKL: Double
    public var top1Agreement: Double
    public var seconds: Double
    public var sensitivity: [SensitivityEntry]?

    public init(label: String, command: String, recipe: String, file: String, fileBytes: Int, fp32FileBytes: Int,
                calibrationTokens: Int, calibrationSHA256: String, evalText: String, evalTokens: Int,
                referencePerplexity: Double, perplexity: Double, meanKL: Double, top1Agreement: Double, seconds: Double,
                sensitivity: [SensitivityEntry]? = nil) {
        self.label = label
        self.command = command
        self.recipe = recipe
        self.file = file
        self.fileBytes = fileBytes
        self.fp32FileBytes = fp32FileBytes
        self.calibrationTokens = calibrationTokens
        self.calibrationSHA256 = calibrationSHA256
        self.evalText = evalText
        self.evalTokens = evalTokens
        self.referencePerplexity = referencePerplexity
        self.perplexity = perplexity
        self.meanKL = meanKL
        self.top1Agreement = top1Agreement
        self.seconds = seconds
        self.sensitivity = sensitivity
    }

    public var perplexityRatio: Double { referencePerplexity > 0 ? perplexity / referencePerplexity : 0 }
    public var sizeRatio: Double { fp32FileBytes > 0 ? Double(fileBytes) / Double(fp32FileBytes) : 0 }
}

/// Reads a JSON-lines report (one run per line); a missing file is an empty report.
public func readReport(path: String) throws -> [QuantizationRunReport] {
    guard let data = FileManager.default.contents(atPath: path) else { return [] }
    var runs: [QuantizationRunReport] = []
    for (n, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() where !line.isEmpty {
        do {
            runs.append(try JSONDecoder().decode(QuantizationRunReport.self, from: Data(line.utf8)))
        } catch {
            throw QuantizeError(file: path, field: "line \(n + 1)", message: "not a run report: \(error)")
        }
    }
    return runs
}

/// Appends `run` to the JSON-lines report at `path`.
public func appendReport(_ run: QuantizationRunReport, path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    var line = try encoder.encode(run)
    line.append(0x0A)
    if let handle = FileHandle(forWritingAtPath: path) {
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: line)
    } else if !FileManager.default.createFile(atPath: path, contents: line) {
        throw QuantizeError(file: path, field: "report", message: "cannot create the file")
    }
}

/// The runs side by side as a Markdown table.
public func reportTable(_ runs: [QuantizationRunReport]) -> String {
    var s = "| run | recipe | size (% of FP32) | PPL FP32 | PPL INT8 | ratio | KL (nats) | top-1 |\n"
    s += "|---|---|---:|---:|---:|---:|---:|---:|\n"
    for r in runs {
        s += "| \(r.label) | \(r.recipe) | \(String(format: "%.1f MB (%.2f%%)", Double(r.fileBytes) / 1e6, 100 * r.sizeRatio)) | "
            + String(format: "%.3f | %.3f | %.4f | %.4f | %.2f%% |", r.referencePerplexity, r.perplexity, r.perplexityRatio,
                     r.meanKL, 100 * r.top1Agreement) + "\n"
    }
    return s
}
