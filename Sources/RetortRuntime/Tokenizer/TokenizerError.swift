/// A vocabulary the tokenizer cannot use, named by the GGUF field at fault
/// (e.g. `tokenizer.ggml.merges[17]`).
public struct TokenizerError: Error, Sendable, Equatable, CustomStringConvertible {
    public let field: String
    public let message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}
