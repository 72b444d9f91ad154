import Foundation
import RetortImport
import RetortModel
import RetortRuntime

/// Any model file (GGUF or .rtm) imported into the FP32 host model with its tokenizer.
struct HostModel {
    let path: String
    let model: LlamaModel
    let tokenizer: TokenizerDefinition

    static func open(_ path: String) throws -> HostModel {
        if path.hasSuffix(".rtm") {
            let file = try RTMFile.open(path: path)
            return HostModel(path: path, model: try LlamaModel.load(rtm: file), tokenizer: try TokenizerDefinition(rtm: file))
        }
        let file = try GGUFFile.open(path: path)
        return HostModel(path: path, model: try LlamaModel.load(gguf: file), tokenizer: try TokenizerDefinition(gguf: file))
    }
}

