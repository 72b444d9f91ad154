/// Type tags of GGUF metadata values (`enum gguf_type`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
    case uint8 = 0, int8, uint16, int16, uint32, int32, float32, bool, string, array, uint64, int64, float64

    /// Lower-case name used in error messages ("uint32", "string", "array").
    public var name: String { "\(self)" }

    /// One of the eight integer types.
    public var isInteger: Bool {
        switch self {
        case .uint8, .int8, .uint16, .int16, .uint32, .int32, .uint64, .int64: true
        default: false
        }
    }

    /// Encoded size of a scalar value, nil for string and array.
    var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64: 8
        case .string, .array: nil
        }
    }

    /// Fewest bytes one encoded value can take: a string is at least its u64 length, an array at
    /// least its u32 element type and u64 count. Used to reject counts the file cannot hold.
    var minimumEncodedSize: Int {
        switch self {
        case .string: 8
        case .array: 12
        default: fixedSize ?? 1
        }
    }
}

/// One GGUF metadata value. Arrays carry their element type so empty arrays round-trip, and may nest.
public indirect enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), uint64(UInt64), int64(Int64), float64(Double)
    /// Every element of `values` has type `elementType`.
    case array(elementType: GGUFValueType, values: [GGUFValue])

    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        case .array: .array
        }
    }

    /// "uint32", "string", "array[string]", "array[array[int32]]" — for messages.
    public var typeDescription: String {
        guard case .array(let elementType, let values) = self else { return type.name }
        if elementType == .array, let first = values.first { return "array[\(first.typeDescription)]" }
        return "array[\(elementType.name)]"
    }

    /// Whether this is one of the eight integer cases.
    public var isInteger: Bool { type.isInteger }

    /// Any integer case whose value fits in `Int`; nil otherwise (including non-integers).
    public var intValue: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(exactly: v)
        default: nil
        }
    }

    /// float32, float64 or any integer case, as a `Double`; nil for bool, string and array.
    public var floatValue: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        case .uint64(let v): Double(v)
        case .int64(let v): Double(v)
        default: intValue.map(Double.init)
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The elements of an array value; nil for scalars.
    public var arrayValues: [GGUFValue]? {
        if case .array(_, let values) = self { return values }
        return nil
    }
}
