/// Why an `.rtm` file was rejected, or why a metadata lookup failed.
///
/// `field` names where: `header.alignment`, `metadata[3] (tokenizer.tokens).value[17]`,
/// `tensor[3] (blk.0.attn_q.weight).dataOffset`, or a metadata key for the typed accessors.
public struct RTMError: Error, Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let field: String
    public let message: String

    public init(file: String, field: String, message: String) {
        self.file = file
        self.field = field
        self.message = message
    }

    /// Byte-wise equality: no Unicode normalization, so Embedded builds need no Unicode tables.
    public static func == (a: RTMError, b: RTMError) -> Bool {
        rtmSameBytes(a.file, b.file) && rtmSameBytes(a.field, b.field) && rtmSameBytes(a.message, b.message)
    }

    /// "<file>: <field>: <message>".
    public var description: String { "\(file): \(field): \(message)" }
}

/// String equality by UTF-8 bytes (`==` on String applies canonical equivalence, which needs the
/// Unicode normalization tables that an Embedded build would otherwise have to link).
func rtmSameBytes(_ a: String, _ b: String) -> Bool {
    a.utf8.elementsEqual(b.utf8)
}
