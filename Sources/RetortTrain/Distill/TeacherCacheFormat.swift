import Foundation
import RetortImport
import RetortRuntime

// The teacher signal cache file (.rtkc), one layout definition for the reader and the writer.
// Specification: formats/teacher-cache.md. Little-endian throughout.
//
// Dimension names: T = context (positions per window), K = top-k ids per position, W = windows.
//
//   header (256 bytes)
//     0   magic "RTKC"                       4 bytes
//     4   version                            UInt32 (1)
//     8   headerSize                         UInt32 (256)
//     12  reserved                           UInt32 (0)
//     16  teacherHash                        32 bytes (SHA-256 of the teacher file)
//     48  corpusHash                         32 bytes (SHA-256 of the token stream, Int32 LE)
//     80  topK                               UInt32 (K)
//     84  context                            UInt32 (T)
//     88  vocab                              UInt32 (V)
//     92  reserved                           UInt32 (0)
//     96  windowCount                        UInt64 (W = ⌊tokens / T⌋)
//     104 keyChecksum                        UInt64 XXH64(bytes 0 ..< 104, seed 0)
//     112 completeWindows                    UInt64 (0 ... W)
//     120 completeWindowsChecksum            UInt64 XXH64(bytes 112 ..< 120, seed keyChecksum)
//     128 zero up to 256
//   record w at 256 + w · stride, stride = roundUp(8·T·K + 4·T + 24, 64)
//     ids        (T, K) Int32    then UInt64 XXH64(ids,      seed 4·w + 0)
//     logProbs   (T, K) Float    then UInt64 XXH64(logProbs, seed 4·w + 1)
//     rest       (T)    Float    then UInt64 XXH64(rest,     seed 4·w + 2)
//     zero padding to the stride

/// Offsets and sizes of the .rtkc layout.
enum TeacherCacheLayout {
    static let magic: [UInt8] = Array("RTKC".utf8)
    static let version: UInt32 = 1
    static let headerSize = 256
    static let teacherHashOffset = 16, corpusHashOffset = 48, hashSize = 32
    static let topKOffset = 80, contextOffset = 84, vocabOffset = 88
    static let windowCountOffset = 96, keyChecksumOffset = 104
    static let completeOffset = 112, completeChecksumOffset = 120
    /// Largest accepted T, K, V and W: bounds every size computed from the header.
    static let maxDimension = 1 << 24, maxWindows = 1 << 32

    /// Byte offsets inside one record of T positions and K ids.
    struct Record: Equatable {
        let ids: Int, idsChecksum: Int
        let logProbs: Int, logProbsChecksum: Int
        let rest: Int, restChecksum: Int
        let stride: Int

        init(context t: Int, topK k: Int) {
            ids = 0
            idsChecksum = 4 * t * k
            logProbs = idsChecksum + 8
            logProbsChecksum = logProbs + 4 * t * k
            rest = logProbsChecksum + 8
            restChecksum = rest + 4 * t
            stride = (restChecksum + 8 + 63) / 64 * 64
        }
    }

    static func recordOffset(_ window: Int, stride: Int) -> Int { headerSize + window * stride }

    static func fieldSeed(window: Int, field: Int) -> UInt64 { UInt64(window) << 2 | UInt64(field) }
}

// MARK: Key

/// What a cache is valid for. Two caches with equal keys hold identical records.
public struct TeacherCacheKey: Sendable, Equatable, CustomStringConvertible {
    /// SHA-256 of the teacher file (32 bytes).
    public var teacherHash: [UInt8]
    /// SHA-256 of the training token stream as little-endian Int32 (32 bytes): `corpusHash(of:)`.
    public var corpusHash: [UInt8]
    public var topK: Int        // K
    public var context: Int     // T: window length; window i = tokens[i·T ..< (i+1)·T]
    public var vocab: Int       // V
    public var windowCount: Int // W = ⌊token count / T⌋

    public init(teacherHash: [UInt8], corpusHash: [UInt8], topK: Int, context: Int, vocab: Int, windowCount: Int) {
        self.teacherHash = teacherHash
        self.corpusHash = corpusHash
        self.topK = topK
        self.context = context
        self.vocab = vocab
        self.windowCount = windowCount
    }

    /// The key of `tokens` cut into windows of `context`, for a teacher file whose SHA-256 is
    /// `teacherSHA256` (64 hex digits, as `SHA256.hex(fileAt:)` returns).
    public init(teacherSHA256 hex: String, tokens: [Int32], topK: Int, context: Int, vocab: Int) throws(TeacherCacheError) {
        guard let hash = TeacherCacheKey.bytes(hex: hex) else {
            throw TeacherCacheError(.badArgument, file: "key", field: "teacherHash",
                                    message: "expected 64 hex digits, found \"\(hex.prefix(80))\"")
        }
        self.init(teacherHash: hash, corpusHash: TeacherCacheKey.corpusHash(of: tokens), topK: topK,
                  context: context, vocab: vocab, windowCount: context > 0 ? tokens.count / context : 0)
        try validate(file: "key")
    }

    /// SHA-256 of the tokens as little-endian Int32.
    public static func corpusHash(of tokens: [Int32]) -> [UInt8] {
        var sha = SHA256()
        let littleEndian = tokens.map { $0.littleEndian }
        littleEndian.withUnsafeBytes { sha.update($0) }
        return sha.finalize()
    }

    /// `teacher-<first 12 hex digits of SHA-256 over the header's key bytes>.rtkc`: caches for
    /// different teachers, corpora, K or T can live side by side in one directory.
    public var fileName: String {
        var sha = SHA256()
        sha.update(Array(TeacherCacheKey.header(self, complete: 0)[0 ..< TeacherCacheLayout.keyChecksumOffset]))
        return "teacher-" + TeacherCacheKey.hex(sha.finalize()).prefix(12) + ".rtkc"
    }

    /// Bytes per cached position: 8·K + 4 (ids, log-probs, rest), before the per-record checksums.
    public var bytesPerToken: Int { 8 * topK + 4 }

    public var description: String {
        "teacher \(TeacherCacheKey.hex(teacherHash).prefix(12)), corpus \(TeacherCacheKey.hex(corpusHash).prefix(12)), "
            + "K=\(topK), T=\(context), V=\(vocab), W=\(windowCount)"
    }

    func validate(file: String) throws(TeacherCacheError) {
        let limit = TeacherCacheLayout.maxDimension
        func fail(_ field: String, _ message: String) -> TeacherCacheError {
            TeacherCacheError(.badArgument, file: file, field: field, message: message)
        }
        if teacherHash.count != 32 { throw fail("teacherHash", "must be 32 bytes, found \(teacherHash.count)") }
        if corpusHash.count != 32 { throw fail("corpusHash", "must be 32 bytes, found \(corpusHash.count)") }
        if !(1...limit).contains(vocab) { throw fail("vocab", "\(vocab) outside 1...\(limit)") }
        if !(1...vocab).contains(topK) { throw fail("topK", "\(topK) outside 1...vocab (\(vocab))") }
        if !(1...limit).contains(context) { throw fail("context", "\(context) outside 1...\(limit)") }
        if !(0...TeacherCacheLayout.maxWindows).contains(windowCount) {
            throw fail("windowCount", "\(windowCount) outside 0...\(TeacherCacheLayout.maxWindows)")
        }
    }

    /// The first key field that differs from `other`, with both values, or nil when equal.
    func firstDifference(from other: TeacherCacheKey) -> (field: String, mine: String, theirs: String)? {
        if teacherHash != other.teacherHash {
            return ("teacherHash", TeacherCacheKey.hex(teacherHash), TeacherCacheKey.hex(other.teacherHash))
        }
        if corpusHash != other.corpusHash {
            return ("corpusHash", TeacherCacheKey.hex(corpusHash), TeacherCacheKey.hex(other.corpusHash))
        }
        if topK != other.topK { return ("topK", "\(topK)", "\(other.topK)") }
        if context != other.context { return ("context", "\(context)", "\(other.context)") }
        if vocab != other.vocab { return ("vocab", "\(vocab)", "\(other.vocab)") }
        if windowCount != other.windowCount { return ("windowCount", "\(windowCount)", "\(other.windowCount)") }
        return nil
    }

    // MARK: Header bytes

    /// The 256-byte header for `key` with `complete` finished windows.
    static func header(_ key: TeacherCacheKey, complete: Int) -> [UInt8] {
        typealias L = TeacherCacheLayout
        var bytes = [UInt8](repeating: 0, count: L.headerSize)
        bytes.replaceSubrange(0..<4, with: L.magic)
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: L.version.littleEndian, toByteOffset: 4, as: UInt32.self)
            raw.storeBytes(of: UInt32(L.headerSize).littleEndian, toByteOffset: 8, as: UInt32.self)
            raw.storeBytes(of: UInt32(key.topK).littleEndian, toByteOffset: L.topKOffset, as: UInt32.self)
            raw.storeBytes(of: UInt32(key.context).littleEndian, toByteOffset: L.contextOffset, as: UInt32.self)
            raw.storeBytes(of: UInt32(key.vocab).littleEndian, toByteOffset: L.vocabOffset, as: UInt32.self)
            raw.storeBytes(of: UInt64(key.windowCount).littleEndian, toByteOffset: L.windowCountOffset, as: UInt64.self)
        }
        bytes.replaceSubrange(L.teacherHashOffset ..< L.teacherHashOffset + L.hashSize, with: key.teacherHash)
        bytes.replaceSubrange(L.corpusHashOffset ..< L.corpusHashOffset + L.hashSize, with: key.corpusHash)
        let keyChecksum = bytes.withUnsafeBytes { RTMChecksum.xxh64(UnsafeRawBufferPointer(rebasing: $0[0 ..< L.keyChecksumOffset])) }
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: keyChecksum.littleEndian, toByteOffset: L.keyChecksumOffset, as: UInt64.self) }
        let count = completeField(complete, keyChecksum: keyChecksum)
        bytes.replaceSubrange(L.completeOffset ..< L.completeOffset + 16, with: count)
        return bytes
    }

    /// The 16 bytes at `completeOffset`: the count and its checksum.
    static func completeField(_ complete: Int, keyChecksum: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 16)
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt64(complete).littleEndian, toByteOffset: 0, as: UInt64.self)
            let check = RTMChecksum.xxh64(UnsafeRawBufferPointer(rebasing: raw[0..<8]), seed: keyChecksum)
            raw.storeBytes(of: check.littleEndian, toByteOffset: 8, as: UInt64.self)
        }
        return bytes
    }

    /// Parses and checks a header: magic, version, size, key checksum, key bounds, count checksum.
    /// Returns the key, the complete-window count and the key checksum.
    static func parse(header raw: UnsafeRawBufferPointer, file: String)
        throws(TeacherCacheError) -> (key: TeacherCacheKey, complete: Int, keyChecksum: UInt64) {
        typealias L = TeacherCacheLayout
        func fail(_ kind: TeacherCacheError.Kind, _ field: String, _ message: String) -> TeacherCacheError {
            TeacherCacheError(kind, file: file, field: field, message: message)
        }
        guard raw.count >= 8 else { throw fail(.truncated, "header", "file has \(raw.count) bytes, a header needs \(L.headerSize)") }
        guard Array(raw[0..<4]) == L.magic else {
            throw fail(.badMagic, "header.magic", "expected \"RTKC\", found bytes \(Array(raw[0..<4]))")
        }
        let version = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        guard version == L.version else {
            let why = version > L.version ? "is newer than this reader (\(L.version))" : "is not supported (expected \(L.version))"
            throw fail(.unsupportedVersion, "header.version", "version \(version) \(why)")
        }
        guard raw.count >= L.headerSize else {
            throw fail(.truncated, "header", "file has \(raw.count) bytes, the header needs \(L.headerSize)")
        }
        func u32(_ offset: Int) -> UInt32 { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
        func u64(_ offset: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
        guard u32(8) == UInt32(L.headerSize) else {
            throw fail(.corruptHeader, "header.headerSize", "expected \(L.headerSize), found \(u32(8))")
        }
        let keyChecksum = RTMChecksum.xxh64(UnsafeRawBufferPointer(rebasing: raw[0 ..< L.keyChecksumOffset]))
        guard u64(L.keyChecksumOffset) == keyChecksum else {
            throw fail(.corruptHeader, "header.keyChecksum",
                       "stored \(RTMChecksum.hex(u64(L.keyChecksumOffset))), computed \(RTMChecksum.hex(keyChecksum)); the header is corrupt")
        }
        let windowCount = u64(L.windowCountOffset)
        guard windowCount <= UInt64(L.maxWindows) else {
            throw fail(.corruptHeader, "header.windowCount", "\(windowCount) exceeds \(L.maxWindows)")
        }
        let key = TeacherCacheKey(
            teacherHash: Array(raw[L.teacherHashOffset ..< L.teacherHashOffset + L.hashSize]),
            corpusHash: Array(raw[L.corpusHashOffset ..< L.corpusHashOffset + L.hashSize]),
            topK: Int(u32(L.topKOffset)), context: Int(u32(L.contextOffset)), vocab: Int(u32(L.vocabOffset)),
            windowCount: Int(windowCount))
        do { try key.validate(file: file) } catch {
            throw fail(.corruptHeader, "header." + error.field, error.message)
        }
        let countCheck = RTMChecksum.xxh64(UnsafeRawBufferPointer(rebasing: raw[L.completeOffset ..< L.completeOffset + 8]), seed: keyChecksum)
        guard u64(L.completeChecksumOffset) == countCheck else {
            throw fail(.corruptHeader, "header.completeWindows", "count checksum mismatch; the header is corrupt")
        }
        let complete = u64(L.completeOffset)
        guard complete <= windowCount else {
            throw fail(.corruptHeader, "header.completeWindows", "\(complete) exceeds windowCount \(windowCount)")
        }
        return (key, Int(complete), keyChecksum)
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count == 64 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(32)
        for i in stride(from: 0, to: 64, by: 2) {
            guard let byte = UInt8(String(decoding: digits[i...i + 1], as: UTF8.self), radix: 16) else { return nil }
            out.append(byte)
        }
        return out
    }
}

// MARK: Errors

/// A cache that cannot be opened, built or read, naming the file and the field.
public struct TeacherCacheError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: Sendable, Equatable {
        case io                 // open, read, write, map or sync failed
        case truncated          // the file ends before the header or a complete record
        case badMagic
        case unsupportedVersion
        case corruptHeader      // header checksum, bounds or counts
        case keyMismatch        // the file was built for another teacher / corpus / K / T / V
        case corruptRecord      // a record's checksum does not match its bytes
        case badArgument        // a caller's window range, tokens or teacher do not fit the key
        case teacher            // the teacher's forward pass failed
    }

    public let kind: Kind
    public let file: String
    /// e.g. "header.version", "key.topK", "window[12].logProbs".
    public let field: String
    public let message: String

    public init(_ kind: Kind, file: String, field: String, message: String) {
        self.kind = kind
        self.file = file
        self.field = field
        self.message = message
    }

    public var description: String { "\(file): \(field): \(message)" }
}
