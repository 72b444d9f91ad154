/// A validated GGUF file: its metadata, its tensor directory and (memory-mapped) access to the
/// tensor bytes. Opening reads and checks the whole header; tensor data is only touched when asked.
///
/// Immutable after init, hence `Sendable`; the mapping lives as long as the object.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    /// 2 or 3 (same layout); 1 and anything newer are rejected.
    public let version: UInt32
    /// general.alignment, or 32.
    public let alignment: Int
    /// Key–value pairs in file order.
    public let metadata: [(key: String, value: GGUFValue)]
    /// Tensors in file order.
    public let tensors: [GGUFTensorInfo]
    public let fileSize: Int
    /// Absolute offset of the tensor data section.
    public let dataOffset: Int

    private let storage: FileBytes
    private let metadataIndex: [String: Int]
    private let tensorIndex: [String: Int]

    /// Memory-maps the file at `path` and validates its header.
    public static func open(path: String) throws(GGUFError) -> GGUFFile {
        try GGUFFile(storage: FileBytes(mapping: path), path: path)
    }

    /// Validates a GGUF image held in memory (the bytes are copied once).
    public convenience init(bytes: [UInt8], path: String = "<memory>") throws(GGUFError) {
        try self.init(storage: FileBytes(copying: bytes), path: path)
    }

    private init(storage: FileBytes, path: String) throws(GGUFError) {
        let header = try GGUFHeader.parse(storage.buffer, file: path)
        self.storage = storage
        self.path = path
        self.version = header.version
        self.alignment = header.alignment
        self.metadata = header.metadata
        self.metadataIndex = header.metadataIndex
        self.tensors = header.tensors
        self.tensorIndex = header.tensorIndex
        self.fileSize = storage.buffer.count
        self.dataOffset = header.dataOffset
    }

    public func value(_ key: String) -> GGUFValue? {
        metadataIndex[key].map { metadata[$0].value }
    }

    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    // MARK: - Tensor data

    /// The raw bytes of `info`'s data. `info` must come from this file's `tensors`.
    public func withTensorBytes<R>(_ info: GGUFTensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        precondition(info.offset >= 0 && info.byteCount >= 0 && info.offset <= fileSize - info.byteCount,
                     "tensor \(info.name) does not belong to \(path)")
        return try body(UnsafeRawBufferPointer(rebasing: storage.buffer[info.offset ..< info.offset + info.byteCount]))
    }

    /// The tensor's values as `Float`, in storage order (row-major over `dims` reversed).
    public func dequantize(_ info: GGUFTensorInfo) throws(GGUFError) -> [Float] {
        guard info.type.canDequantize else {
            throw GGUFError(file: path, field: "tensor \(info.name)", kind: .unsupportedDequantization(info.type))
        }
        let count = info.elementCount
        return withTensorBytes(info) { src in
            [Float](unsafeUninitializedCapacity: count) { dst, initialized in
                if let base = dst.baseAddress { dequantizeBlocks(info.type, from: src, count: count, into: base) }
                initialized = count
            }
        }
    }

    public func dequantize(named name: String) throws(GGUFError) -> [Float] {
        guard let info = tensor(named: name) else {
            throw GGUFError(file: path, field: "tensor \(name)", kind: .missingKey)
        }
        return try dequantize(info)
    }
}
