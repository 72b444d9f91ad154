/// A failure of the benchmark, naming the file (model, text, tool) and the field or step.
public struct BenchError: Error, CustomStringConvertible, Sendable {
    public var file: String
    public var field: String
    public var message: String

    public init(file: String, field: String, message: String) {
        self.file = file
        self.field = field
        self.message = message
    }

    public var description: String { "\(file): \(field): \(message)" }
}
