/// An error loading or running a model on the runtime, naming the file and the field.
public struct RuntimeError: Error, Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let field: String
    public let message: String

    public init(file: String, field: String, message: String) {
        self.file = file
        self.field = field
        self.message = message
    }

    public init(_ error: RTMError) {
        self.init(file: error.file, field: error.field, message: error.message)
    }

    public init(_ error: TokenizerError, file: String) {
        self.init(file: file, field: error.field, message: error.message)
    }

    public var description: String { file + ": " + field + ": " + message }
}
