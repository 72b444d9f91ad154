/// The GGUF container format, as read by `GGUFFile` and written by `GGUFWriter`.
///
/// Source of truth: ggml `docs/gguf.md` and `ggml/src/gguf.cpp`. Summary of what this module
/// implements (all integers little-endian; big-endian GGUF files are rejected by their version):
///
/// ```text
/// header   u32 magic = "GGUF" (0x46554747), u32 version (2 or 3; v1 is obsolete),
///          u64 tensor_count, u64 kv_count
/// kv       kv_count × { string key, u32 value_type, value }
/// tensors  tensor_count × { string name, u32 n_dims (≤ 4), u64 ne[n_dims] (innermost first),
///                           u32 ggml_type, u64 offset (relative to the data section) }
/// padding  zero bytes up to a multiple of `alignment` (general.alignment: u32, default 32)
/// data     tensor bytes; every offset is a multiple of `alignment`
///
/// string   u64 byte length, UTF-8 bytes (no terminator)
/// array    u32 element type, u64 count, count × value (arrays may nest)
/// ```
///
/// The reader trusts nothing: every read is bounds-checked, counts are checked against the bytes
/// that remain before anything is allocated, tensor ranges must be aligned, inside the file and
/// disjoint, and strings must be valid UTF-8 (invalid strings are rejected, not repaired).
enum GGUFFormat {
    /// "GGUF" read as a little-endian `UInt32`.
    static let magic: UInt32 = 0x4655_4747
    static let supportedVersions: ClosedRange<UInt32> = 2...3
    static let defaultAlignment = 32
    static let alignmentKey = "general.alignment"
    /// GGML_MAX_DIMS.
    static let maxDimensions = 4
    /// Arrays may nest; deeper nesting than this is rejected so hostile input cannot exhaust the stack.
    static let maxArrayNesting = 16
}
