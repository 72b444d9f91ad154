import ArgumentParser
import Foundation
import RetortImport
import RetortModel
import RetortRuntime

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a GGUF model into an .rtm file for the runtime (f32, f16, or absmax int8).")

    @Option(name: .long, help: "Source model (GGUF or .rtm).")
    var from: String

    @Option(name: .long, help: "Output .rtm file.")
    var to: String

    @Option(name: .long, help: "Matrix storage: f32 | f16 | int8 (round-to-nearest absmax per output channel, dynamic W8A8).")
    var weights = "f32"

    @Flag(name: .long, help: "Shorthand for --weights int8.")
    var int8 = false

    @Option(name: .long, help: "With int8: one scale per group of N inputs of each row (a power of two ≥ 16 dividing every row length) instead of one per row.")
    var groupSize: Int?

    func validate() throws {
        guard FileManager.default.fileExists(atPath: from) else { throw ValidationError("--from: no such file '\(from)'") }
        guard RTMWeightFormat(rawValue: weights) != nil else {
            throw ValidationError("--weights must be one of: " + RTMWeightFormat.allCases.map(\.rawValue).joined(separator: ", "))
        }
        if let groupSize {
            guard int8 || weights == "int8" else { throw ValidationError("--group-size needs --int8") }
            guard groupSize >= 16 && groupSize & (groupSize - 1) == 0 else {
                throw ValidationError("--group-size must be a power of two ≥ 16 (got \(groupSize))")
            }
        }
        guard to.hasSuffix(".rtm") else { throw ValidationError("--to: expected an .rtm path (got '\(to)')") }
    }

    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let storage = int8 ? RTMWeightFormat.int8 : RTMWeightFormat(rawValue: weights)!
        let source = try HostModel.open(from)
        let sourceHash = try SHA256.hex(fileAt: from)
        if let groupSize {
            let c = source.model.config
            for width in [c.dim, c.qDim, c.ffnDim] where width % groupSize != 0 {
                throw ValidationError("--group-size \(groupSize) does not divide the row length \(width)")
            }
        }
        let writer = makeRTM(model: source.model, tokenizer: source.tokenizer, weights: storage, groupSize: groupSize, provenance: [
            ("source.file", .string(URL(fileURLWithPath: from).lastPathComponent)),
            ("source.sha256", .string(sourceHash)),
            ("method", .string(storage != .int8 ? "conversion"
                : groupSize.map { "absmax int8 per group of \($0), dynamic per-token activations (no calibration)" }
                ?? "absmax int8 per output channel, dynamic per-token activations (no calibration)")),
            ("tool", .string("retort convert")),
        ])
        let bytes = writer.serialize()
        try writeAtomically(bytes, to: to)
        print("wrote \(to): \(storage.rawValue), \(source.model.config.parameterCount) parameters, \(bytes.count) bytes in \(format(start.duration(to: clock.now).seconds)) s")
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it into place.
func writeAtomically(_ bytes: [UInt8], to path: String) throws {
    let temp = path + ".tmp-\(getpid())"
    guard FileManager.default.createFile(atPath: temp, contents: Data(bytes)) else {
        throw ValidationError("cannot write '\(temp)'")
    }
    if rename(temp, path) != 0 {
        try? FileManager.default.removeItem(atPath: temp)
        throw ValidationError("cannot rename '\(temp)' to '\(path)': \(String(cString: strerror(errno)))")
    }
}
