/// The character classes the pre-tokenizers test: `\p{L}`, `\p{N}`, `\s` and (for the `default`
/// pre-tokenizer) `\p{P}`, defined as llama.cpp's unicode tables define them — general category
/// for letters, numbers and punctuation, the Unicode `White_Space` property for `\s`, as of
/// Unicode 15.1 (llama.cpp's `unicode-data.cpp`; verified code point for code point).
///
/// This file is the only place that consults the stdlib's Unicode data; swap `codepointClass(_:)`
/// for a generated table to drop that dependency (e.g. for Embedded Swift).
struct CodepointClass: OptionSet, Sendable {
    let rawValue: UInt8

    static let letter = CodepointClass(rawValue: 1 << 0)       // \p{L}
    static let number = CodepointClass(rawValue: 1 << 1)       // \p{N}
    static let whitespace = CodepointClass(rawValue: 1 << 2)   // \s (White_Space)
    static let punctuation = CodepointClass(rawValue: 1 << 3)  // \p{P}
    /// Set for every code point inside the text; the splitters read "no flags" past a segment's end.
    static let present = CodepointClass(rawValue: 1 << 7)
}

/// Class of one code point. Values that are not Unicode scalars (surrogates, > U+10FFFF, which
/// llama.cpp's lenient UTF-8 decoder can produce) belong to no class, like unassigned ones.
func codepointClass(_ value: UInt32) -> CodepointClass {
    if value < 0x80 { return asciiClasses[Int(value)] }
    guard let scalar = Unicode.Scalar(value) else { return .present }
    let properties = scalar.properties
    // llama.cpp's table is Unicode 15.1: a character assigned later is unassigned (Cn) there.
    guard let age = properties.age, age.major < 15 || (age.major == 15 && age.minor <= 1) else { return .present }
    var result: CodepointClass = .present
    if properties.isWhitespace { result.insert(.whitespace) }
    switch properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
        result.insert(.letter)
    case .decimalNumber, .letterNumber, .otherNumber:
        result.insert(.number)
    case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
         .initialPunctuation, .finalPunctuation, .otherPunctuation:
        result.insert(.punctuation)
    default:
        break
    }
    return result
}

/// ASCII classes, spelled out so the common case needs no Unicode lookup.
private let asciiClasses: [CodepointClass] = (0..<128).map { (c: Int) -> CodepointClass in
    var result: CodepointClass = .present
    switch c {
    case 0x09...0x0D, 0x20: result.insert(.whitespace)
    case 0x30...0x39: result.insert(.number)
    case 0x41...0x5A, 0x61...0x7A: result.insert(.letter)
    // Unicode category P: ! " # % & ' ( ) * , - . / : ; ? @ [ \ ] _ { }   (not $ + < = > ^ ` | ~)
    case 0x21...0x23, 0x25...0x2A, 0x2C...0x2F, 0x3A, 0x3B, 0x3F, 0x40, 0x5B...0x5D, 0x5F, 0x7B, 0x7D:
        result.insert(.punctuation)
    default: break
    }
    return result
}
