import ArgumentParser
import Foundation
import RetortImport
import RetortModel
import RetortRuntime

/// A model file opened for the CLI: the FP32 host model and its tokenizer.
struct LoadedModel {
    let path: String
    let model: LlamaModel
    let tokenizer: BPETokenizer
    let loadSeconds: Double

    static func open(_ path: String, threads: Int?) throws -> LoadedModel {
        if let threads { HostThreads.set(threads) }
        let clock = ContinuousClock()
        let start = clock.now
        let file = try GGUFFile.open(path: path)
        let tokenizer = try BPETokenizer.load(gguf: file)
        let model = try LlamaModel.load(gguf: file)
        guard tokenizer.vocabularySize == model.config.vocabSize else {
            throw ModelError(file: path, field: "tokenizer.ggml.tokens",
                             message: "\(tokenizer.vocabularySize) tokens but the model has vocabulary \(model.config.vocabSize)")
        }
        return LoadedModel(path: path, model: model, tokenizer: tokenizer, loadSeconds: start.duration(to: clock.now).seconds)
    }
}

/// Options shared by commands that run a model.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model file: GGUF (host FP32 model) or .rtm (RetortRuntime, where the command supports it).")
    var model: String

    @Option(name: .long, help: "Threads for the engine and OpenBLAS (default: all cores).")
    var threads: Int?

    func validate() throws {
        guard FileManager.default.fileExists(atPath: model) else {
            throw ValidationError("--model: no such file '\(model)'")
        }
        if let threads, threads < 1 || threads > 256 {
            throw ValidationError("--threads must be in 1...256 (got \(threads))")
        }
    }
}

func readTextFile(_ path: String, option: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ValidationError("\(option): cannot read '\(path)'")
    }
    return [UInt8](data)
}

/// Writes to standard error.
func note(_ message: String) {
    FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}

func writeStdout(_ bytes: [UInt8]) {
    guard !bytes.isEmpty else { return }
    FileHandle.standardOutput.write(Data(bytes))
}

func format(_ value: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", value) }
