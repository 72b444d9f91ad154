/// A metadata value. Value type ids on disk: int 1, float 2, bool 3, string 4, ints 5, floats 6,
/// strings 7 (formats/rtm.md, "Metadata section").
///
/// Equality compares strings byte for byte (as keys and names are compared in the file), and
/// floats by value (`.float(.nan) != .float(.nan)`, `-0.0 == 0.0`).
public enum RTMValue: Sendable, Equatable {
    case int(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case ints([Int64])
    case floats([Float])
    case strings([String])

    public static func == (a: RTMValue, b: RTMValue) -> Bool {
        switch (a, b) {
        case (.int(let x), .int(let y)): x == y
        case (.float(let x), .float(let y)): x == y
        case (.bool(let x), .bool(let y)): x == y
        case (.string(let x), .string(let y)): rtmSameBytes(x, y)
        case (.ints(let x), .ints(let y)): x == y
        case (.floats(let x), .floats(let y)): x == y
        case (.strings(let x), .strings(let y)): x.count == y.count && zip(x, y).allSatisfy { rtmSameBytes($0, $1) }
        default: false
        }
    }

    /// The type name used in error messages: "int", "floats", ...
    public var typeName: String {
        switch self {
        case .int: "int"
        case .float: "float"
        case .bool: "bool"
        case .string: "string"
        case .ints: "ints"
        case .floats: "floats"
        case .strings: "strings"
        }
    }

    /// The on-disk value type id.
    var typeID: UInt32 {
        switch self {
        case .int: 1
        case .float: 2
        case .bool: 3
        case .string: 4
        case .ints: 5
        case .floats: 6
        case .strings: 7
        }
    }
}
