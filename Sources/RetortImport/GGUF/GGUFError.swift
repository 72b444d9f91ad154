/// Why a GGUF file (or a conversion of its tensors) was rejected.
///
/// `field` names what was being read: "header.version", "kv[3].value[17] (tokenizer.ggml.tokens)",
/// "tensor[3].offset (blk.0.attn_q.weight)", or a metadata key for the typed accessors.
public struct GGUFError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Kind: Equatable, Sendable {
        case io(String)
        case badMagic(found: UInt32)
        case unsupportedVersion(found: UInt32)
        /// Bytes `offset ..< offset + needed` were required but the file has `fileSize` bytes.
        case truncated(offset: Int, needed: Int, fileSize: Int)
        case overflow
        case outOfRange(String)
        case unknownValueType(UInt32)
        case unknownTensorType(UInt32)
        case duplicate(String)
        /// `offset` is the absolute file offset of the tensor data.
        case misaligned(offset: Int, alignment: Int)
        case invalid(String)
        case missingKey
        case typeMismatch(expected: String, found: String)
        case unsupportedDequantization(GGMLType)
        case unsupportedQuantization(GGMLType)
    }

    public let file: String
    public let field: String
    public let kind: Kind

    public init(file: String, field: String, kind: Kind) {
        self.file = file
        self.field = field
        self.kind = kind
    }

    /// "<file>: <field>: <message>".
    public var description: String { "\(file): \(field): \(message)" }

    /// The human-readable part of `description`.
    public var message: String {
        switch kind {
        case .io(let detail):
            return "I/O error: \(detail)"
        case .badMagic(let found):
            let hex = String(found, radix: 16, uppercase: true)
            return "bad magic 0x\(hex), expected 0x46554747 (\"GGUF\"); not a GGUF file"
        case .unsupportedVersion(let found):
            if found == 1 { return "GGUF version 1 is obsolete; supported versions are 2 and 3" }
            if found > 0xFFFF {
                return "GGUF version \(found) looks byte-swapped: big-endian files are not supported"
            }
            return "unsupported GGUF version \(found); supported versions are 2 and 3"
        case .truncated(let offset, let needed, let fileSize):
            let (end, overflow) = offset.addingReportingOverflow(needed)
            if overflow { return "needs \(needed) bytes at offset \(offset), past end of file (size \(fileSize))" }
            return "data range \(offset)..<\(end) past end of file (size \(fileSize))"
        case .overflow:
            return "size computation overflows"
        case .outOfRange(let detail):
            return detail
        case .unknownValueType(let raw):
            return "unknown metadata value type \(raw)"
        case .unknownTensorType(let raw):
            return "unknown ggml tensor type \(raw)"
        case .duplicate(let name):
            return "duplicate name '\(name)'"
        case .misaligned(let offset, let alignment):
            return "data offset \(offset) is not a multiple of the alignment \(alignment)"
        case .invalid(let detail):
            return detail
        case .missingKey:
            return "not found"
        case .typeMismatch(let expected, let found):
            return "expected \(expected), found \(found)"
        case .unsupportedDequantization(let type):
            return "dequantization of \(type.name) is not supported"
        case .unsupportedQuantization(let type):
            return "quantization to \(type.name) is not supported"
        }
    }
}
