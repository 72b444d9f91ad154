import CRetortShim
import Foundation
import RetortModel
import RetortRuntime

/// The teacher's sparse soft targets for a token stream, on disk (formats/teacher-cache.md).
///
/// The stream is cut into W consecutive windows of T = `key.context` tokens (window i =
/// tokens[i·T ..< (i+1)·T], the trailing partial window is dropped); the teacher runs each window
/// from an empty KV cache, exactly the sequences the training loop trains on. Per position the
/// record holds the top-K ids, their log-probabilities at τ = 1 and the rest mass
/// (`sparseTeacherFromLogits`), ready for `sparseDistillationForward`; other temperatures come
/// from `temperSparseTeacher`.
///
/// Windows are appended in order and committed one at a time: record written and synced, then
/// the header's complete-window count updated and synced. A build killed at any point resumes from
/// the last committed window; bytes after it are ignored and overwritten. Reading is through a
/// read-only memory mapping; each record's checksums (and the sparse-teacher invariants) are
/// checked the first time the record is read.
public final class TeacherCache {
    public let path: String
    public let key: TeacherCacheKey
    /// Windows 0 ..< completeWindows are committed and readable.
    public private(set) var completeWindows: Int

    let record: TeacherCacheLayout.Record
    let keyChecksum: UInt64
    /// The current read-only mapping, and earlier ones kept until deinit so that pointers handed
    /// out by `window(_:)` stay valid while the cache lives.
    private var mapping: (base: UnsafeRawPointer, size: Int)?
    private var retired: [(base: UnsafeRawPointer, size: Int)] = []
    private var verified: [Bool]

    private init(path: String, key: TeacherCacheKey, complete: Int, keyChecksum: UInt64) {
        self.path = path
        self.key = key
        self.completeWindows = complete
        self.keyChecksum = keyChecksum
        self.record = TeacherCacheLayout.Record(context: key.context, topK: key.topK)
        self.verified = [Bool](repeating: false, count: complete)
    }

    deinit {
        for m in retired + (mapping.map { [$0] } ?? []) { _ = retort_munmap(m.base, m.size) }
    }

    /// Bytes one window's record takes in the file (ids, log-probs, rest, checksums, padding).
    public var recordBytes: Int { record.stride }

    /// Bytes the file has when windows 0 ..< n are complete.
    public func fileSize(completeWindows n: Int) -> Int { TeacherCacheLayout.recordOffset(n, stride: record.stride) }

    // MARK: Opening

    /// Opens the cache at `path` built for `key`, creating an empty one when the file is missing.
    /// A file built for another key is rejected with `.keyMismatch` naming the first differing
    /// field (`key.teacherHash`, `key.corpusHash`, `key.topK`, `key.context`, `key.vocab`,
    /// `key.windowCount`).
    public static func open(path: String, key: TeacherCacheKey) throws(TeacherCacheError) -> TeacherCache {
        try key.validate(file: path)
        if !FileManager.default.fileExists(atPath: path) { try create(path: path, key: key) }
        let cache = try openExisting(path: path)
        if let difference = key.firstDifference(from: cache.key) {
            throw TeacherCacheError(.keyMismatch, file: path, field: "key." + difference.field,
                                    message: "the file was built for \(difference.theirs), this run needs \(difference.mine)")
        }
        return cache
    }

    /// Opens (or creates) `<directory>/<key.fileName>`, creating the directory if needed: caches
    /// for different teachers, corpora, K or T coexist there.
    public static func open(directory: String, key: TeacherCacheKey) throws(TeacherCacheError) -> TeacherCache {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw TeacherCacheError(.io, file: directory, field: "directory", message: "cannot create: \(error.localizedDescription)")
        }
        return try open(path: (directory as NSString).appendingPathComponent(key.fileName), key: key)
    }

    /// Opens an existing cache whatever its key (read from the header), e.g. to inspect it.
    public static func openExisting(path: String) throws(TeacherCacheError) -> TeacherCache {
        let (base, size) = try map(path: path)
        var keep = false
        defer { if !keep { _ = retort_munmap(base, size) } }
        let header = UnsafeRawBufferPointer(start: base, count: min(size, TeacherCacheLayout.headerSize))
        let (key, complete, keyChecksum) = try TeacherCacheKey.parse(header: header, file: path)
        let cache = TeacherCache(path: path, key: key, complete: complete, keyChecksum: keyChecksum)
        let needed = cache.fileSize(completeWindows: complete)
        guard size >= needed else {
            throw TeacherCacheError(.truncated, file: path, field: "header.completeWindows",
                                    message: "\(complete) complete windows need \(needed) bytes, the file has \(size)")
        }
        cache.mapping = (base, size)
        keep = true
        return cache
    }

    /// Writes an empty cache (header only) through a temporary file and a rename.
    private static func create(path: String, key: TeacherCacheKey) throws(TeacherCacheError) {
        let temporary = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        do {
            let data = Data(TeacherCacheKey.header(key, complete: 0))
            guard FileManager.default.createFile(atPath: temporary, contents: data),
                  let handle = FileHandle(forUpdatingAtPath: temporary) else {
                throw TeacherCacheError(.io, file: path, field: "file", message: "cannot create \(temporary)")
            }
            try handle.synchronize()
            try handle.close()
            guard rename(temporary, path) == 0 else {
                throw TeacherCacheError(.io, file: path, field: "file", message: "cannot rename \(temporary) (errno \(errno))")
            }
        } catch let error as TeacherCacheError {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw TeacherCacheError(.io, file: path, field: "file", message: "cannot create: \(error.localizedDescription)")
        }
    }

    /// Maps the whole file read-only.
    private static func map(path: String) throws(TeacherCacheError) -> (UnsafeRawPointer, Int) {
        let fd = retort_open_read(path)
        guard fd >= 0 else { throw TeacherCacheError(.io, file: path, field: "file", message: "cannot open (errno \(errno))") }
        defer { _ = retort_close(fd) }
        let size = Int(retort_file_size(fd))
        guard size >= TeacherCacheLayout.headerSize else {
            throw TeacherCacheError(.truncated, file: path, field: "header",
                                    message: "file has \(max(size, 0)) bytes, the header needs \(TeacherCacheLayout.headerSize)")
        }
        guard let base = retort_mmap_read(fd, size) else {
            throw TeacherCacheError(.io, file: path, field: "file", message: "cannot map \(size) bytes (errno \(errno))")
        }
        return (UnsafeRawPointer(base), size)
    }

    // MARK: Reading

    /// Window `i`'s records, pointing into the mapping: valid while the cache lives. The first
    /// read of a window checks its three checksums and the sparse-teacher invariants; a mismatch is
    /// `.corruptRecord` naming `window[i].ids`, `.logProbs` or `.rest`.
    public func window(_ i: Int) throws(TeacherCacheError) -> TeacherCacheWindow {
        guard i >= 0 && i < completeWindows else {
            throw TeacherCacheError(.badArgument, file: path, field: "window",
                                    message: "window \(i) is not cached (complete windows: 0..<\(completeWindows))")
        }
        let offset = TeacherCacheLayout.recordOffset(i, stride: record.stride)
        if mapping == nil || mapping!.size < offset + record.stride {
            if let old = mapping { retired.append(old) }
            mapping = nil
            let (base, size) = try TeacherCache.map(path: path)
            mapping = (base, size)
            guard size >= offset + record.stride else {
                throw TeacherCacheError(.truncated, file: path, field: "window[\(i)]",
                                        message: "record ends at byte \(offset + record.stride), the file has \(size)")
            }
        }
        let base = mapping!.base + offset
        let t = key.context, k = key.topK
        let result = TeacherCacheWindow(
            ids: (base + record.ids).bindMemory(to: Int32.self, capacity: t * k),
            logProbs: (base + record.logProbs).bindMemory(to: Float.self, capacity: t * k),
            rest: (base + record.rest).bindMemory(to: Float.self, capacity: t),
            rows: t, topK: k)
        if !verified[i] {
            try check(window: i, record: UnsafeRawBufferPointer(start: base, count: record.stride), result)
            verified[i] = true
        }
        return result
    }

    /// Reads every complete window once (checksums and invariants).
    public func verify() throws(TeacherCacheError) {
        for i in 0..<completeWindows { _ = try window(i) }
    }

    private func check(window i: Int, record bytes: UnsafeRawBufferPointer, _ w: TeacherCacheWindow) throws(TeacherCacheError) {
        let t = key.context, k = key.topK
        let fields: [(name: String, start: Int, count: Int, checksum: Int)] = [
            ("ids", record.ids, 4 * t * k, record.idsChecksum),
            ("logProbs", record.logProbs, 4 * t * k, record.logProbsChecksum),
            ("rest", record.rest, 4 * t, record.restChecksum),
        ]
        for (index, field) in fields.enumerated() {
            let stored = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: field.checksum, as: UInt64.self))
            let computed = RTMChecksum.xxh64(UnsafeRawBufferPointer(rebasing: bytes[field.start ..< field.start + field.count]),
                                             seed: TeacherCacheLayout.fieldSeed(window: i, field: index))
            guard stored == computed else {
                throw TeacherCacheError(.corruptRecord, file: path, field: "window[\(i)].\(field.name)",
                                        message: "checksum mismatch: stored \(RTMChecksum.hex(stored)), computed \(RTMChecksum.hex(computed)); the file is corrupt")
            }
        }
        do {
            try validateSparseTeacher(w.ids, w.logProbs, w.rest, rows: t, vocab: key.vocab, topK: k)
        } catch {
            let field: String = switch error {
            case .idOutOfRange, .duplicateId: "ids"
            case .badLogProb, .massMismatch: "logProbs"
            case .badRest: "rest"
            }
            throw TeacherCacheError(.corruptRecord, file: path, field: "window[\(i)].\(field)", message: error.description)
        }
    }

    // MARK: Building

    /// Makes windows `windows` readable, running `teacher` on the windows not yet cached. Records
    /// are appended in order, so every missing window below `windows.upperBound` is computed (a
    /// training run over windows 0 ..< n caches exactly those). `tokens` is the stream the key was
    /// made from (its length must give `key.windowCount` windows); `teacher` must be the model
    /// whose file `key.teacherHash` hashes. `progress` is called after each committed window.
    public func ensure(windows: Range<Int>, teacher: LlamaModel, tokens: [Int32],
                       progress: ((TeacherCacheProgress) -> Void)? = nil) throws(TeacherCacheError) {
        let t = key.context, k = key.topK, v = key.vocab
        guard windows.lowerBound >= 0 && windows.upperBound <= key.windowCount else {
            throw TeacherCacheError(.badArgument, file: path, field: "windows",
                                    message: "\(windows) is outside the cache's 0..<\(key.windowCount)")
        }
        guard tokens.count / t == key.windowCount else {
            throw TeacherCacheError(.badArgument, file: path, field: "tokens",
                                    message: "\(tokens.count) tokens make \(tokens.count / t) windows of \(t), the key has \(key.windowCount)")
        }
        guard teacher.config.vocabSize == v else {
            throw TeacherCacheError(.badArgument, file: path, field: "teacher.vocab",
                                    message: "teacher vocabulary \(teacher.config.vocabSize), the key has \(v)")
        }
        let first = completeWindows, end = windows.upperBound
        guard end > first else { return }

        guard let handle = FileHandle(forUpdatingAtPath: path) else {
            throw TeacherCacheError(.io, file: path, field: "file", message: "cannot open for writing")
        }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: record.stride, alignment: 64)
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: record.stride)
        defer { buffer.deallocate() }
        let ids = (buffer + record.ids).bindMemory(to: Int32.self, capacity: t * k)
        let logProbs = (buffer + record.logProbs).bindMemory(to: Float.self, capacity: t * k)
        let rest = (buffer + record.rest).bindMemory(to: Float.self, capacity: t)
        let session = LlamaSession(model: teacher, capacity: t)
        let start = ContinuousClock.now
        do {
            defer { try? handle.close() }
            // Bytes after the last committed window are an interrupted append: drop them.
            try handle.truncate(atOffset: UInt64(fileSize(completeWindows: first)))
            for w in first..<end {
                session.reset()
                let logits = try session.forward(Array(tokens[w * t ..< (w + 1) * t]), logits: .all)
                sparseTeacherFromLogits(ids, logProbs, rest, logits.baseAddress!, rows: t, vocab: v, topK: k, temperature: 1)
                let fields = [(record.ids, 4 * t * k, record.idsChecksum), (record.logProbs, 4 * t * k, record.logProbsChecksum),
                              (record.rest, 4 * t, record.restChecksum)]
                for (index, (offset, count, checksumOffset)) in fields.enumerated() {
                    let sum = RTMChecksum.xxh64(UnsafeRawBufferPointer(start: buffer + offset, count: count),
                                                seed: TeacherCacheLayout.fieldSeed(window: w, field: index))
                    buffer.storeBytes(of: sum.littleEndian, toByteOffset: checksumOffset, as: UInt64.self)
                }
                try handle.seek(toOffset: UInt64(TeacherCacheLayout.recordOffset(w, stride: record.stride)))
                try handle.write(contentsOf: Data(bytesNoCopy: buffer, count: record.stride, deallocator: .none))
                try handle.synchronize()
                try handle.seek(toOffset: UInt64(TeacherCacheLayout.completeOffset))
                try handle.write(contentsOf: Data(TeacherCacheKey.completeField(w + 1, keyChecksum: keyChecksum)))
                try handle.synchronize()
                completeWindows = w + 1
                verified.append(false)
                if let progress {
                    let seconds = (ContinuousClock.now - start) / .seconds(1)
                    progress(TeacherCacheProgress(window: w, done: w + 1 - first, total: end - first,
                                                  tokensPerSecond: Double((w + 1 - first) * t) / max(seconds, 1e-9),
                                                  elapsedSeconds: seconds))
                }
            }
        } catch let error as ModelError {
            throw TeacherCacheError(.teacher, file: path, field: "window[\(completeWindows)]", message: error.description)
        } catch {
            throw TeacherCacheError(.io, file: path, field: "window[\(completeWindows)]",
                                    message: "write failed: \(error.localizedDescription)")
        }
        withExtendedLifetime(session) {}
    }
}

/// One window of a teacher cache: pointers into the file's mapping.
public struct TeacherCacheWindow {
    public let ids: UnsafePointer<Int32>       // (T, K)
    public let logProbs: UnsafePointer<Float>  // (T, K) at τ = 1
    public let rest: UnsafePointer<Float>      // (T)
    public let rows: Int                       // T
    public let topK: Int                       // K
}

/// Reported after each window `ensure` commits.
public struct TeacherCacheProgress: Sendable {
    public let window: Int          // the window just committed
    public let done: Int            // windows computed in this call
    public let total: Int           // windows this call computes
    public let tokensPerSecond: Double
    public let elapsedSeconds: Double
    public var etaSeconds: Double { tokensPerSecond > 0 ? elapsedSeconds / Double(max(done, 1)) * Double(total - done) : 0 }
}
