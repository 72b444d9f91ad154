import ArgumentParser
import Foundation
import RetortImport
import RetortRuntime

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the token ids of a text, space-separated on one line.")

    @Option(name: .long, help: "Model file (GGUF) whose tokenizer to use.")
    var model: String

    @Option(name: .long, help: "Text file to tokenize.")
    var text: String?

    @Option(name: .long, help: "Text to tokenize.")
    var prompt: String?

    @Flag(name: .long, help: "Print only the number of tokens.")
    var count = false

    @Flag(name: .long, help: "Recognise special-token text such as <|im_start|>.")
    var parseSpecial = false

    @Flag(name: .long, help: "Do not add BOS/EOS even when the model asks for them.")
    var noSpecial = false

    func validate() throws {
        guard (text == nil) != (prompt == nil) else { throw ValidationError("give exactly one of --text FILE or --prompt S") }
        guard FileManager.default.fileExists(atPath: model) else { throw ValidationError("--model: no such file '\(model)'") }
    }

    func run() throws {
        let file = try GGUFFile.open(path: model)
        let tokenizer = try BPETokenizer.load(gguf: file)
        let bytes = try text.map { try readTextFile($0, option: "--text") } ?? Array(prompt!.utf8)
        let ids = tokenizer.encode(bytes, addSpecial: !noSpecial, parseSpecial: parseSpecial)
        if count {
            print(ids.count)
        } else {
            print(ids.map(String.init).joined(separator: " "))
        }
    }
}
