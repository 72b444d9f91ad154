/// Typed metadata accessors. Errors name the key as the field: `missingKey` when absent,
/// `typeMismatch` when present with another type, `outOfRange` when an integer does not fit.
extension GGUFFile {
    private func fail(_ key: String, _ kind: GGUFError.Kind) -> GGUFError {
        GGUFError(file: path, field: key, kind: kind)
    }

    private func require(_ key: String) throws(GGUFError) -> GGUFValue {
        guard let value = value(key) else { throw fail(key, .missingKey) }
        return value
    }

    private func int(_ value: GGUFValue, _ key: String) throws(GGUFError) -> Int {
        if let int = value.intValue { return int }
        if value.isInteger { throw fail(key, .outOfRange("\(value) does not fit in Int")) }
        throw fail(key, .typeMismatch(expected: "integer", found: value.typeDescription))
    }

    private func float(_ value: GGUFValue, _ key: String) throws(GGUFError) -> Float {
        guard let double = value.floatValue else {
            throw fail(key, .typeMismatch(expected: "float32, float64 or integer", found: value.typeDescription))
        }
        return Float(double)
    }

    private func string(_ value: GGUFValue, _ key: String) throws(GGUFError) -> String {
        guard let string = value.stringValue else {
            throw fail(key, .typeMismatch(expected: "string", found: value.typeDescription))
        }
        return string
    }

    private func bool(_ value: GGUFValue, _ key: String) throws(GGUFError) -> Bool {
        guard let bool = value.boolValue else {
            throw fail(key, .typeMismatch(expected: "bool", found: value.typeDescription))
        }
        return bool
    }

    /// The elements of an array whose element type satisfies `accepts`.
    private func elements(
        _ key: String, expected: String, _ accepts: (GGUFValueType) -> Bool
    ) throws(GGUFError) -> [GGUFValue] {
        let value = try require(key)
        guard case .array(let elementType, let values) = value, accepts(elementType) else {
            throw fail(key, .typeMismatch(expected: expected, found: value.typeDescription))
        }
        return values
    }

    public func int(_ key: String) throws(GGUFError) -> Int { try int(require(key), key) }
    /// Accepts float32, float64 and integers.
    public func float(_ key: String) throws(GGUFError) -> Float { try float(require(key), key) }
    public func string(_ key: String) throws(GGUFError) -> String { try string(require(key), key) }
    public func bool(_ key: String) throws(GGUFError) -> Bool { try bool(require(key), key) }

    public func stringArray(_ key: String) throws(GGUFError) -> [String] {
        let values = try elements(key, expected: "array[string]") { $0 == .string }
        return values.map { $0.stringValue ?? "" }  // every element of an array[string] is a string
    }

    public func intArray(_ key: String) throws(GGUFError) -> [Int] {
        let values = try elements(key, expected: "array of integers") { $0.isInteger }
        var result: [Int] = []
        result.reserveCapacity(values.count)
        for value in values { result.append(try int(value, key)) }
        return result
    }

    /// Accepts arrays of float32, float64 or integers.
    public func floatArray(_ key: String) throws(GGUFError) -> [Float] {
        let values = try elements(key, expected: "array of numbers") { $0.isInteger || $0 == .float32 || $0 == .float64 }
        var result: [Float] = []
        result.reserveCapacity(values.count)
        for value in values { result.append(try float(value, key)) }
        return result
    }

    public func optionalInt(_ key: String) throws(GGUFError) -> Int? {
        guard let value = value(key) else { return nil }
        return try int(value, key)
    }

    public func optionalFloat(_ key: String) throws(GGUFError) -> Float? {
        guard let value = value(key) else { return nil }
        return try float(value, key)
    }

    public func optionalString(_ key: String) throws(GGUFError) -> String? {
        guard let value = value(key) else { return nil }
        return try string(value, key)
    }

    public func optionalBool(_ key: String) throws(GGUFError) -> Bool? {
        guard let value = value(key) else { return nil }
        return try bool(value, key)
    }
}
