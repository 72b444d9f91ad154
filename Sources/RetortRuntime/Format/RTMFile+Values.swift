/// Typed metadata accessors. Errors name the key as the field: "not found" when absent,
/// "expected int, found string" for another type, "does not fit in Int" for a too-large integer.
/// Types are exact: `float` does not accept an `.int` (the writer decides each key's type).
extension RTMFile {
    private func fail(_ key: String, _ message: String) -> RTMError {
        RTMError(file: path, field: key, message: message)
    }

    private func require(_ key: String) throws(RTMError) -> RTMValue {
        guard let value = value(key) else { throw fail(key, "not found") }
        return value
    }

    private func mismatch(_ key: String, expected: String, _ value: RTMValue) -> RTMError {
        fail(key, "expected \(expected), found \(value.typeName)")
    }

    private func int(_ value: RTMValue, _ key: String) throws(RTMError) -> Int {
        guard case .int(let raw) = value else { throw mismatch(key, expected: "int", value) }
        guard let int = Int(exactly: raw) else { throw fail(key, "\(raw) does not fit in Int") }
        return int
    }

    private func float(_ value: RTMValue, _ key: String) throws(RTMError) -> Float {
        guard case .float(let double) = value else { throw mismatch(key, expected: "float", value) }
        return Float(double)
    }

    private func string(_ value: RTMValue, _ key: String) throws(RTMError) -> String {
        guard case .string(let string) = value else { throw mismatch(key, expected: "string", value) }
        return string
    }

    private func bool(_ value: RTMValue, _ key: String) throws(RTMError) -> Bool {
        guard case .bool(let bool) = value else { throw mismatch(key, expected: "bool", value) }
        return bool
    }

    public func int(_ key: String) throws(RTMError) -> Int { try int(require(key), key) }
    public func float(_ key: String) throws(RTMError) -> Float { try float(require(key), key) }
    public func string(_ key: String) throws(RTMError) -> String { try string(require(key), key) }
    public func bool(_ key: String) throws(RTMError) -> Bool { try bool(require(key), key) }

    public func ints(_ key: String) throws(RTMError) -> [Int] {
        let value = try require(key)
        guard case .ints(let raw) = value else { throw mismatch(key, expected: "ints", value) }
        var result: [Int] = []
        result.reserveCapacity(raw.count)
        for (i, element) in raw.enumerated() {
            guard let int = Int(exactly: element) else { throw fail("\(key)[\(i)]", "\(element) does not fit in Int") }
            result.append(int)
        }
        return result
    }

    public func floats(_ key: String) throws(RTMError) -> [Float] {
        let value = try require(key)
        guard case .floats(let floats) = value else { throw mismatch(key, expected: "floats", value) }
        return floats
    }

    public func strings(_ key: String) throws(RTMError) -> [String] {
        let value = try require(key)
        guard case .strings(let strings) = value else { throw mismatch(key, expected: "strings", value) }
        return strings
    }

    /// nil when absent; an error when present with another type.
    public func optionalInt(_ key: String) throws(RTMError) -> Int? {
        guard let value = value(key) else { return nil }
        return try int(value, key)
    }

    public func optionalFloat(_ key: String) throws(RTMError) -> Float? {
        guard let value = value(key) else { return nil }
        return try float(value, key)
    }

    public func optionalString(_ key: String) throws(RTMError) -> String? {
        guard let value = value(key) else { return nil }
        return try string(value, key)
    }

    public func optionalBool(_ key: String) throws(RTMError) -> Bool? {
        guard let value = value(key) else { return nil }
        return try bool(value, key)
    }
}
