/// How a tensor's elements are stored. Matrices are row-major `[out][in]` (dims = [in, out]).
/// See formats/rtm.md, "dtypes".
public enum RTMDType: UInt32, Sendable, CaseIterable {
    /// IEEE binary32 per element.
    case f32 = 0
    /// IEEE binary16 per element.
    case f16 = 1
    /// int8 in -127...127 `[rows][in]` + f32 scales `[rows]`.
    case int8PerChannel = 2
    /// int8 in -127...127 `[rows][in]` + f32 scales `[rows][in / groupSize]`.
    case int8PerGroup = 3

    public var bytesPerElement: Int {
        switch self {
        case .f32: 4
        case .f16: 2
        case .int8PerChannel, .int8PerGroup: 1
        }
    }

    public var name: String {
        switch self {
        case .f32: "f32"
        case .f16: "f16"
        case .int8PerChannel: "int8PerChannel"
        case .int8PerGroup: "int8PerGroup"
        }
    }
}

/// Sizes implied by a dtype, dims and group size; the one rule reader and writer both apply.
enum RTMShape {
    case valid(elementCount: Int, dataBytes: Int, scaleCount: Int)
    /// `field` is relative to the tensor: "rank", "dims[1]", "dims", "groupSize".
    case invalid(field: String, message: String)

    static let maxRank = 4

    /// Checks rank 1...4, every dim ≥ 1, no overflow in the element or byte count, and the
    /// group size rule (int8PerGroup: a power of two ≥ 16 dividing dims[0]; otherwise 0).
    static func check(dtype: RTMDType, dims: [Int], groupSize: Int) -> RTMShape {
        guard dims.count >= 1, dims.count <= maxRank else {
            return .invalid(field: "rank", message: "rank \(dims.count) is outside 1...\(maxRank)")
        }
        var elementCount = 1
        for (i, dim) in dims.enumerated() {
            guard dim >= 1 else { return .invalid(field: "dims[\(i)]", message: "dimension \(dim) must be at least 1") }
            let (product, overflow) = elementCount.multipliedReportingOverflow(by: dim)
            guard !overflow else { return .invalid(field: "dims", message: "the element count overflows") }
            elementCount = product
        }
        let (dataBytes, overflow) = elementCount.multipliedReportingOverflow(by: dtype.bytesPerElement)
        guard !overflow else { return .invalid(field: "dims", message: "the byte count overflows") }
        let columns = dims[0]
        let rows = elementCount / columns
        switch dtype {
        case .f32, .f16:
            guard groupSize == 0 else {
                return .invalid(field: "groupSize", message: "must be 0 for \(dtype.name), found \(groupSize)")
            }
            return .valid(elementCount: elementCount, dataBytes: dataBytes, scaleCount: 0)
        case .int8PerChannel:
            guard groupSize == 0 else {
                return .invalid(field: "groupSize", message: "must be 0 for \(dtype.name), found \(groupSize)")
            }
            return .valid(elementCount: elementCount, dataBytes: dataBytes, scaleCount: rows)
        case .int8PerGroup:
            guard groupSize >= 16, groupSize & (groupSize - 1) == 0, columns % groupSize == 0 else {
                return .invalid(field: "groupSize",
                                message: "group size \(groupSize) must be a power of two ≥ 16 dividing dims[0] = \(columns)")
            }
            // rows · (columns / groupSize) ≤ elementCount: no overflow.
            return .valid(elementCount: elementCount, dataBytes: dataBytes, scaleCount: rows * (columns / groupSize))
        }
    }
}
