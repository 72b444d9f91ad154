/// Super-block size of the k-quants (ggml QK_K).
let ggmlSuperBlock = 256

/// Tensor element encodings, with ggml's numeric ids (`enum ggml_type` in ggml.h).
///
/// Block sizes and byte sizes follow ggml's `type_traits` table (gguf-py `GGML_QUANT_SIZES`).
/// Ids 4, 5 and 31–33, 36–38 were removed from ggml and are not representable.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22
    case iq4_xs = 23, i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30
    case tq1_0 = 34, tq2_0 = 35, mxfp4 = 39, nvfp4 = 40, q1_0 = 41, q2_0 = 42

    /// Elements per block (1 for plain scalar types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f64, .i8, .i16, .i32, .i64: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_nl, .mxfp4: 32
        case .nvfp4, .q2_0: 64
        case .q1_0: 128
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K, .iq2_xxs, .iq2_xs, .iq3_xxs, .iq1_s, .iq3_s,
             .iq2_s, .iq4_xs, .iq1_m, .tq1_0, .tq2_0:
            ggmlSuperBlock
        }
    }

    /// Bytes per block.
    public var typeSize: Int {
        let k = ggmlSuperBlock
        return switch self {
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .f64, .i64: 8
        case .i8: 1
        case .q4_0: 2 + 16                        // d, qs[16]
        case .q4_1: 2 + 2 + 16                    // d, m, qs[16]
        case .q5_0: 2 + 4 + 16                    // d, qh[4], qs[16]
        case .q5_1: 2 + 2 + 4 + 16                // d, m, qh[4], qs[16]
        case .q8_0: 2 + 32                        // d, qs[32]
        case .q8_1: 2 + 2 + 32                    // d, s, qs[32]
        case .q2_K: k / 16 + k / 4 + 2 + 2        // scales, qs, d, dmin
        case .q3_K: k / 8 + k / 4 + 12 + 2        // hmask, qs, scales, d
        case .q4_K: 2 + 2 + 12 + k / 2            // d, dmin, scales, qs
        case .q5_K: 2 + 2 + 12 + k / 8 + k / 2    // d, dmin, scales, qh, qs
        case .q6_K: k / 2 + k / 4 + k / 16 + 2    // ql, qh, scales, d
        case .q8_K: 4 + k + k / 8                 // d (f32), qs, bsums (i16 × 16)
        case .iq2_xxs: 2 + k / 4
        case .iq2_xs: 2 + k / 4 + k / 32
        case .iq3_xxs: 2 + k / 4 + k / 8
        case .iq1_s: 2 + k / 8 + k / 16
        case .iq4_nl: 2 + 16
        case .iq3_s: 2 + k / 4 + k / 8 + k / 32 + 4
        case .iq2_s: 2 + k / 4 + k / 16
        case .iq4_xs: 2 + 2 + k / 2 + k / 64
        case .iq1_m: k / 8 + k / 16 + k / 32
        case .tq1_0: 2 + 4 * 13
        case .tq2_0: 2 + 64
        case .mxfp4: 1 + 16
        case .nvfp4: 4 + 32
        case .q1_0: 2 + 16
        case .q2_0: 2 + 16
        }
    }

    /// The name llama.cpp and gguf-py print ("F32", "Q4_1", "Q6_K", "IQ2_XXS", "BF16").
    public var name: String {
        switch self {
        case .q2_K: "Q2_K"
        case .q3_K: "Q3_K"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        case .q8_K: "Q8_K"
        default: "\(self)".uppercased()
        }
    }

    /// Whether `dequantize(_:from:count:into:)` has a kernel for this type.
    public var canDequantize: Bool {
        switch self {
        case .f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0,
             .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K:
            true
        default:
            false
        }
    }

    /// Bytes taken by `elements` values; nil if `elements` is negative, not a whole number of
    /// blocks, or the size overflows `Int`.
    public func byteCount(elements: Int) -> Int? {
        guard elements >= 0, elements % blockSize == 0 else { return nil }
        let (bytes, overflow) = (elements / blockSize).multipliedReportingOverflow(by: typeSize)
        return overflow ? nil : bytes
    }
}
