/// An error in a model file or a model-level request, naming the file and the field.
public struct ModelError: Error, CustomStringConvertible, Equatable, Sendable {
    public let file: String
    public let field: String
    public let message: String

    public init(file: String, field: String, message: String) {
        self.file = file
        self.field = field
        self.message = message
    }

    public var description: String { "\(file): \(field): \(message)" }
}
