import Foundation
import RetortRuntime

/// Which calibration sequences to draw from a text (a recipe in calibration/*.recipe).
public struct CalibrationRecipe: Sendable, Codable, Equatable {
    /// Split (or file) the recipe is meant for, e.g. "train"; informational.
    public var text: String
    public var sequences: Int
    public var length: Int
    public var seed: UInt64

    public init(text: String = "train", sequences: Int = 32, length: Int = 512, seed: UInt64 = 1) {
        self.text = text
        self.sequences = sequences
        self.length = length
        self.seed = seed
    }

    /// Parses `key = value` lines (`#` starts a comment): text, sequences, length, seed.
    public init(parsing source: String, file: String) throws(QuantizeError) {
        self.init()
        for (n, rawLine) in source.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            let parts = trimmed.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { throw QuantizeError(file: file, field: "line \(n + 1)", message: "expected key = value") }
            let (key, value) = (parts[0], parts[1])
            func int() throws(QuantizeError) -> Int {
                guard let v = Int(value), v > 0 else { throw QuantizeError(file: file, field: key, message: "'\(value)' is not a positive integer") }
                return v
            }
            switch key {
            case "text": text = value
            case "sequences": sequences = try int()
            case "length": length = try int()
            case "seed": seed = UInt64(try int())
            default: throw QuantizeError(file: file, field: key, message: "unknown key (text, sequences, length, seed)")
            }
        }
        guard length >= 2 && length <= 1 << 16 else { throw QuantizeError(file: file, field: "length", message: "\(length) must be in 2...65536") }
        guard sequences <= 1 << 16 else { throw QuantizeError(file: file, field: "sequences", message: "\(sequences) is too many") }
    }
}

/// Draws `recipe.sequences` windows of `recipe.length` tokens from `tokens` at seeded random
/// offsets (without overlap when the text is long enough). Deterministic for a seed.
public func drawCalibrationSequences(tokens: [Int32], recipe: CalibrationRecipe, source: String) throws(QuantizeError) -> [[Int32]] {
    let n = tokens.count, len = recipe.length
    guard n >= len else {
        throw QuantizeError(file: source, field: "tokens", message: "\(n) tokens, fewer than one sequence of \(len)")
    }
    let slots = n / len
    var rng = SeededGenerator(seed: recipe.seed)
    var order = Array(0..<slots)
    // Fisher–Yates with the project's seeded generator.
    for i in stride(from: slots - 1, to: 0, by: -1) {
        let j = Int(rng.next() % UInt64(i + 1))
        order.swapAt(i, j)
    }
    var out: [[Int32]] = []
    for k in 0..<recipe.sequences {
        let slot = order[k % slots]
        out.append(Array(tokens[slot * len ..< (slot + 1) * len]))
    }
    return out
}

/// A typed error naming the file and field.
public struct QuantizeError: Error, CustomStringConvertible, Sendable {
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
