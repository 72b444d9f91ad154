/// A validated `.rtm` model file (formats/rtm.md): metadata, tensor table and views of the tensor
/// data, which stays in the mapped (or copied) file. Opening checks every header field, the
/// metadata and table checksums and, unless told otherwise, every tensor's checksums.
///
/// Immutable after init, hence `Sendable`; the mapping lives as long as the object, and the
/// tensors' pointers are valid only while it does.
public final class RTMFile: @unchecked Sendable {
    public let path: String
    public let version: (major: UInt16, minor: UInt16)
    /// Alignment of tensor data and scales within the file (≥ 64, a power of two).
    public let alignment: Int
    public let fileSize: Int
    /// Key–value pairs in file order (arrays decoded from the file on each call).
    public var metadata: [(key: String, value: RTMValue)] {
        entries.map { (key: $0.key, value: $0.value.decode(storage.bytes)) }
    }
    /// Number of metadata keys.
    public var metadataCount: Int { entries.count }
    /// Tensors in file order.
    public let tensors: [RTMTensor]

    private let storage: RTMStorage
    private let entries: [(key: String, value: RTMStoredValue)]
    private let metadataIndex: [[UInt8]: Int]  // key's UTF-8 → index in `metadata`
    private let tensorIndex: [[UInt8]: Int]    // name's UTF-8 → index in `tensors`

    /// Maps the file at `path` read-only and validates it.
    public static func open(path: String, verifyTensorChecksums: Bool = true) throws(RTMError) -> RTMFile {
        try RTMFile(storage: RTMStorage(mapping: path), name: path, verifyTensorChecksums: verifyTensorChecksums)
    }

    /// Validates an `.rtm` image held in memory; the bytes are copied once into aligned memory.
    public convenience init(bytes: [UInt8], name: String = "<memory>", verifyTensorChecksums: Bool = true) throws(RTMError) {
        try self.init(storage: RTMStorage(copying: bytes), name: name, verifyTensorChecksums: verifyTensorChecksums)
    }

    private init(storage: RTMStorage, name: String, verifyTensorChecksums: Bool) throws(RTMError) {
        let contents = try RTMReader(bytes: storage.bytes, file: name).read(verifyTensorChecksums: verifyTensorChecksums)
        self.storage = storage
        self.path = name
        self.version = (contents.header.versionMajor, contents.header.versionMinor)
        self.alignment = Int(contents.header.alignment)
        self.fileSize = storage.bytes.count
        self.entries = contents.metadata
        self.metadataIndex = contents.metadataIndex
        self.tensors = contents.tensors
        self.tensorIndex = contents.tensorIndex
    }

    public func value(_ key: String) -> RTMValue? {
        metadataIndex[Array(key.utf8)].map { entries[$0].value.decode(storage.bytes) }
    }

    /// The elements of the `strings` value under `key` as views of the file's bytes (valid UTF-8,
    /// checked at open), valid while this object lives: a vocabulary read without copying it.
    public func stringElements(_ key: String) throws(RTMError) -> [UnsafeRawBufferPointer] {
        guard let index = metadataIndex[Array(key.utf8)] else { throw RTMError(file: path, field: key, message: "not found") }
        let stored = entries[index].value
        guard case .strings = stored else {
            throw RTMError(file: path, field: key, message: "expected strings, found " + stored.typeName)
        }
        return stored.elements(storage.bytes)
    }

    public func tensor(named name: String) -> RTMTensor? {
        tensorIndex[Array(name.utf8)].map { tensors[$0] }
    }
}
