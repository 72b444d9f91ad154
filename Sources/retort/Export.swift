import ArgumentParser
import Foundation
import RetortImport
import RetortModel
import RetortRuntime

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a model as GGUF (F32, F16 or Q8_0) so llama.cpp can run exactly the same model.")

    @Option(name: .long, help: "Model file to export (GGUF or .rtm; int8/f16 tensors are dequantized first).")
    var model: String

    @Option(name: .long, help: "Output GGUF file.")
    var to: String

    @Option(name: .long, help: "Matrix type: f32 | f16 | q8_0 (norm weights stay F32).")
    var type = "f32"

    func validate() throws {
        guard FileManager.default.fileExists(atPath: model) else { throw ValidationError("--model: no such file '\(model)'") }
        guard GGUFExportType(rawValue: type) != nil else {
            throw ValidationError("--type must be one of: " + GGUFExportType.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard to.hasSuffix(".gguf") else { throw ValidationError("--to: expected a .gguf path (got '\(to)')") }
    }

    func run() throws {
        let clock = ContinuousClock()
        let start = clock.now
        let source = try HostModel.open(model)
        let llama = source.model
        let writer = try makeGGUF(model: llama, tokenizer: source.tokenizer, type: GGUFExportType(rawValue: type)!,
                                  name: URL(fileURLWithPath: model).deletingPathExtension().lastPathComponent)
        try writer.write(to: to)
        let size = (try? FileManager.default.attributesOfItem(atPath: to)[.size] as? Int) ?? 0
        print("wrote \(to): GGUF \(type), \(llama.config.parameterCount) parameters, \(size) bytes in \(format(start.duration(to: clock.now).seconds)) s")
    }
}
