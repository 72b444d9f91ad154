#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds a GGUF file (layout in `GGUFFormat`): metadata in insertion order, tensors in insertion
/// order, each tensor's data at the next multiple of `alignment`.
///
/// Misuse — a duplicate tensor name, bytes that do not match the shape, an array whose elements do
/// not have its element type — is a programmer error and traps.
public struct GGUFWriter {
    public let version: UInt32
    /// Data alignment; also written as general.alignment when it is not the default 32.
    public private(set) var alignment: Int

    private var metadata: [(key: String, value: GGUFValue)] = []
    private var metadataIndex: [String: Int] = [:]
    private var tensors: [Tensor] = []
    private var tensorNames: Set<String> = []

    private struct Tensor {
        let name: String
        let dims: [Int]
        let type: GGMLType
        let bytes: [UInt8]
    }

    public init(version: UInt32 = 3, alignment: Int = 32) {
        precondition(GGUFFormat.supportedVersions.contains(version), "GGUF version \(version) cannot be written")
        self.version = version
        self.alignment = GGUFFormat.defaultAlignment
        if alignment != GGUFFormat.defaultAlignment {
            set(GGUFFormat.alignmentKey, .uint32(UInt32(clamping: alignment)))
        }
        precondition(self.alignment == alignment, "alignment \(alignment) must be a power of two")
    }

    /// Sets `key`, replacing an existing value in place (its position is kept).
    /// Setting general.alignment (a u32 power of two) changes `alignment`.
    public mutating func set(_ key: String, _ value: GGUFValue) {
        precondition(!key.isEmpty, "GGUF keys cannot be empty")
        precondition(Self.isWellFormed(value), "array elements of \(key) do not match the element type")
        if key == GGUFFormat.alignmentKey {
            guard case .uint32(let a) = value, a > 0, a & (a - 1) == 0 else {
                preconditionFailure("general.alignment must be a uint32 power of two, got \(value)")
            }
            alignment = Int(a)
        }
        if let i = metadataIndex[key] {
            metadata[i].value = value
        } else {
            metadataIndex[key] = metadata.count
            metadata.append((key, value))
        }
    }

    /// Adds a tensor whose `bytes` are already encoded as `type`. `dims` is innermost first.
    public mutating func addTensor(name: String, dims: [Int], type: GGMLType, bytes: [UInt8]) {
        precondition(!tensorNames.contains(name), "duplicate tensor name \(name)")
        precondition(dims.count <= GGUFFormat.maxDimensions && dims.allSatisfy { $0 >= 0 }, "bad dims \(dims) for \(name)")
        precondition((dims.first ?? 1) % type.blockSize == 0, "row length of \(name) is not a multiple of the \(type.name) block")
        var elements = 1
        for dim in dims {
            let (product, overflow) = elements.multipliedReportingOverflow(by: dim)
            precondition(!overflow, "dims \(dims) of \(name) overflow")
            elements = product
        }
        precondition(type.byteCount(elements: elements) == bytes.count,
                     "\(name): \(bytes.count) bytes do not hold \(dims) \(type.name) values")
        tensorNames.insert(name)
        tensors.append(Tensor(name: name, dims: dims, type: type, bytes: bytes))
    }

    /// Adds an F32 tensor.
    public mutating func addTensor(name: String, dims: [Int], values: [Float]) {
        var bytes = [UInt8](repeating: 0, count: values.count * 4)
        bytes.withUnsafeMutableBytes { out in
            for (i, v) in values.enumerated() {
                out.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
            }
        }
        addTensor(name: name, dims: dims, type: .f32, bytes: bytes)
    }

    /// The complete file image.
    public func serialize() -> [UInt8] {
        var out = ByteSink()
        out.u32(GGUFFormat.magic)
        out.u32(version)
        out.u64(UInt64(tensors.count))
        out.u64(UInt64(metadata.count))
        for (key, value) in metadata {
            out.string(key)
            out.u32(value.type.rawValue)
            out.value(value)
        }
        var offset = 0  // relative to the data section
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset = Self.padded(offset + t.bytes.count, alignment)
        }
        for (t, offset) in zip(tensors, offsets) {
            out.string(t.name)
            out.u32(UInt32(t.dims.count))
            for dim in t.dims { out.u64(UInt64(dim)) }
            out.u32(t.type.rawValue)
            out.u64(UInt64(offset))
        }
        out.pad(to: alignment)
        out.bytes.reserveCapacity(out.bytes.count + offset)
        for t in tensors {
            out.bytes.append(contentsOf: t.bytes)
            out.pad(to: alignment)
        }
        return out.bytes
    }

    /// Writes the file atomically: to a temporary file in the same directory, then renamed over `path`.
    public func write(to path: String) throws {
        let image = serialize()
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        func failure(_ what: String) -> GGUFError {
            GGUFError(file: path, field: what, kind: .io(String(cString: strerror(errno))))
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw failure("create \(temporary)") }
        var written = 0
        let ok = image.withUnsafeBytes { raw -> Bool in
            guard let base = raw.baseAddress else { return true }
            while written < raw.count {
                let n = posixWrite(fd, base + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                written += n
            }
            return fsync(fd) == 0
        }
        let writeError = ok ? nil : failure("write \(temporary)")
        if close(fd) != 0, writeError == nil {
            unlink(temporary)
            throw failure("close \(temporary)")
        }
        if let writeError {
            unlink(temporary)
            throw writeError
        }
        guard rename(temporary, path) == 0 else {
            let error = failure("rename \(temporary)")
            unlink(temporary)
            throw error
        }
    }

    private static func padded(_ n: Int, _ alignment: Int) -> Int {
        (n + alignment - 1) & ~(alignment - 1)
    }

    private static func isWellFormed(_ value: GGUFValue) -> Bool {
        guard case .array(let elementType, let values) = value else { return true }
        return values.allSatisfy { $0.type == elementType && isWellFormed($0) }
    }
}

private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, buffer, count)
    #elseif canImport(Musl)
    Musl.write(fd, buffer, count)
    #else
    Darwin.write(fd, buffer, count)
    #endif
}

/// Little-endian append-only encoder for `GGUFWriter`.
private struct ByteSink {
    var bytes: [UInt8] = []

    mutating func integer<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }
    mutating func u32(_ v: UInt32) { integer(v) }
    mutating func u64(_ v: UInt64) { integer(v) }

    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            u64(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    mutating func pad(to alignment: Int) {
        let extra = (alignment - bytes.count % alignment) % alignment
        bytes.append(contentsOf: repeatElement(0, count: extra))
    }

    /// The value without its type tag (arrays carry their element type and count).
    mutating func value(_ value: GGUFValue) {
        switch value {
        case .uint8(let v): integer(v)
        case .int8(let v): integer(v)
        case .uint16(let v): integer(v)
        case .int16(let v): integer(v)
        case .uint32(let v): integer(v)
        case .int32(let v): integer(v)
        case .uint64(let v): integer(v)
        case .int64(let v): integer(v)
        case .float32(let v): integer(v.bitPattern)
        case .float64(let v): integer(v.bitPattern)
        case .bool(let v): integer(UInt8(v ? 1 : 0))
        case .string(let s): string(s)
        case .array(let elementType, let values):
            u32(elementType.rawValue)
            u64(UInt64(values.count))
            for element in values { self.value(element) }
        }
    }
}
