/// Where one tensor lives in a GGUF file and how it is encoded. Validated by the reader: the data
/// range `offset ..< offset + byteCount` is aligned, inside the file and shared with no other tensor.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// ne[0], ne[1], …: innermost (contiguous row) first, as stored. `[576, 49152]` is 49152 rows of 576.
    public let dims: [Int]
    public let type: GGMLType
    /// Absolute byte offset of the data in the file.
    public let offset: Int
    public let byteCount: Int

    /// Product of `dims` (1 for a zero-dimensional tensor). Never overflows for a validated tensor.
    public var elementCount: Int { dims.reduce(1, *) }

    init(name: String, dims: [Int], type: GGMLType, offset: Int, byteCount: Int) {
        self.name = name
        self.dims = dims
        self.type = type
        self.offset = offset
        self.byteCount = byteCount
    }
}
