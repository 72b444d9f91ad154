/// One tensor of an open `RTMFile`: a view into the file's memory, valid while the file lives.
///
/// Data and scales are aligned to the file's alignment (≥ 64 bytes) and already in the layout the
/// kernels read: matrices row-major `[out][in]`, dims = [in, out] (innermost first).
public struct RTMTensor: @unchecked Sendable {  // read-only pointers into an immutable mapping
    public let name: String
    public let dtype: RTMDType
    /// Innermost first, 1...4 entries, each ≥ 1.
    public let dims: [Int]
    public let data: UnsafeRawPointer
    public let dataBytes: Int
    /// f32 scales: `[rows]` for int8PerChannel, `[rows][dims[0] / groupSize]` for int8PerGroup.
    public let scales: UnsafePointer<Float>?
    public let scaleCount: Int
    /// 0 unless int8PerGroup.
    public let groupSize: Int
    /// Static activation scale for W8A8; 0 = none.
    public let activationScale: Float
    /// int8 only: how many int8 digits each activation gets at run time. 1 = W8A8; 2 = the
    /// activation and its quantization residual, each quantized per token (about 15 bits).
    public let activationDigits: Int

    public var elementCount: Int {
        var count = 1
        for dim in dims { count *= dim }  // validated at load: cannot overflow
        return count
    }

    /// Number of rows (elements / dims[0]); `out` for a matrix.
    public var rowCount: Int { elementCount / dims[0] }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: data, count: dataBytes) }

    public var scaleBuffer: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: scales, count: scaleCount) }
}
