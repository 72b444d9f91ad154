import Foundation
import RetortImport
import RetortModel
import RetortRuntime
import RetortTestSupport
import RetortTrain
import XCTest

/// The teacher signal cache (formats/teacher-cache.md) on a tiny synthetic teacher.
final class TeacherCacheTests: XCTestCase {
    // T = 16 positions per window, K = 5, V = 48; 4 whole windows plus 3 dropped tokens.
    let context = 16, topK = 5, windowCount = 4
    var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "teacher-cache-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func teacher(seed: UInt64 = 7) -> LlamaModel { TinyModels.random(seed: seed) }

    private func tokens(seed: UInt64 = 3) -> [Int32] {
        var rng = SeededGenerator(seed: seed)
        return (0..<(context * windowCount + 3)).map { _ in Int32(rng.nextUnitFloat() * 47.99) }
    }

    private func key(tokens: [Int32], topK: Int? = nil, teacherByte: UInt8 = 0xAA) throws -> TeacherCacheKey {
        try TeacherCacheKey(teacherSHA256: String(repeating: String(format: "%02x", teacherByte), count: 32),
                            tokens: tokens, topK: topK ?? self.topK, context: context, vocab: TinyModels.config.vocabSize)
    }

    private func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }
    private func write(_ bytes: [UInt8], _ path: String) throws { try Data(bytes).write(to: URL(fileURLWithPath: path)) }

    /// Builds windows 0 ..< n in a fresh file; returns the path.
    @discardableResult
    private func build(_ name: String, windows n: Int, model: LlamaModel? = nil) throws -> String {
        let path = directory + "/" + name
        let stream = tokens()
        let cache = try TeacherCache.open(path: path, key: try key(tokens: stream))
        try cache.ensure(windows: 0..<n, teacher: model ?? teacher(), tokens: stream)
        return path
    }

    /// Asserts `body` throws a TeacherCacheError of `kind` whose field is `field` and that names the file.
    private func assertCacheError(_ kind: TeacherCacheError.Kind, field: String, file: String,
                                  line: UInt = #line, _ body: () throws -> Void) {
        XCTAssertThrowsError(try body(), line: line) { error in
            guard let error = error as? TeacherCacheError else { return XCTFail("not a TeacherCacheError: \(error)", line: line) }
            XCTAssertEqual(error.kind, kind, "\(error)", line: line)
            XCTAssertEqual(error.field, field, "\(error)", line: line)
            XCTAssertEqual(error.file, file, "\(error)", line: line)
            XCTAssertTrue(error.description.contains(file) && error.description.contains(field), "\(error)", line: line)
        }
    }

    // MARK: Contents

    /// The record layout the spec gives: ids, checksum, log-probs, checksum, rest, checksum, padded to 64.
    func testRecordLayoutMatchesSpec() throws {
        let stream = tokens()
        let cache = try TeacherCache.open(path: directory + "/a.rtkc", key: try key(tokens: stream))
        let raw = 8 * context * topK + 4 * context + 24
        XCTAssertEqual(cache.recordBytes, (raw + 63) / 64 * 64)
        XCTAssertEqual(cache.fileSize(completeWindows: 3), 256 + 3 * cache.recordBytes)
        XCTAssertEqual(try bytes(directory + "/a.rtkc").count, 256)
        XCTAssertEqual(cache.key.windowCount, windowCount)
        XCTAssertEqual(cache.key.bytesPerToken, 8 * topK + 4)
    }

    /// Every stored row is the top K of the teacher's logits for that window run from an empty
    /// cache: ids largest first, log-softmax values, and the rest mass.
    func testStoredTopKEqualsTeacherTopK() throws {
        let model = teacher(), stream = tokens(), v = TinyModels.config.vocabSize
        let path = try build("a.rtkc", windows: windowCount, model: model)
        let cache = try TeacherCache.open(path: path, key: try key(tokens: stream))
        XCTAssertEqual(cache.completeWindows, windowCount)
        let tolerance: Float = 1e-5
        for w in 0..<windowCount {
            let logits = try batchedLogits(model, Array(stream[w * context ..< (w + 1) * context]))
            let entry = try cache.window(w)
            for t in 0..<context {
                let row = Array(logits[t * v ..< (t + 1) * v])
                let order = (0..<v).sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }
                let m = row.max()!
                let logZ = Double(m) + log(row.reduce(0.0) { $0 + exp(Double($1 - m)) })
                var topMass = 0.0
                for i in 0..<topK {
                    XCTAssertEqual(Int(entry.ids[t * topK + i]), order[i], "window \(w) position \(t) slot \(i)")
                    let expected = Float(Double(row[order[i]]) - logZ)
                    XCTAssertEqual(entry.logProbs[t * topK + i], expected, accuracy: tolerance, "window \(w) position \(t) slot \(i)")
                    topMass += exp(Double(expected))
                }
                XCTAssertEqual(entry.rest[t], Float(1 - topMass), accuracy: tolerance, "window \(w) position \(t) rest")
                XCTAssertGreaterThan(entry.rest[t], 0.1, "K = 5 of 48 leaves mass outside the top")
            }
        }
    }

    // MARK: Reuse, laziness, resume

    /// Reopening with the same key reuses the records: nothing is recomputed (no progress calls,
    /// even with a different teacher model passed in) and the file is unchanged.
    func testReopenReusesWithoutRecomputing() throws {
        let stream = tokens()
        let path = try build("a.rtkc", windows: windowCount)
        let before = try bytes(path)
        let cache = try TeacherCache.open(path: path, key: try key(tokens: stream))
        var calls = 0
        try cache.ensure(windows: 0..<windowCount, teacher: teacher(seed: 99), tokens: stream) { _ in calls += 1 }
        XCTAssertEqual(calls, 0)
        XCTAssertEqual(try bytes(path), before)
        try cache.verify()
    }

    /// `ensure` computes only the windows not yet cached, in order.
    func testEnsureComputesOnlyMissingWindows() throws {
        let stream = tokens(), model = teacher()
        let cache = try TeacherCache.open(path: directory + "/a.rtkc", key: try key(tokens: stream))
        var committed: [Int] = []
        try cache.ensure(windows: 0..<2, teacher: model, tokens: stream) { committed.append($0.window) }
        XCTAssertEqual(committed, [0, 1])
        XCTAssertEqual(cache.completeWindows, 2)
        let first = try cache.window(1)
        try cache.ensure(windows: 1..<3, teacher: model, tokens: stream) { committed.append($0.window) }
        XCTAssertEqual(committed, [0, 1, 2])
        try cache.ensure(windows: 0..<4, teacher: model, tokens: stream) { committed.append($0.window) }
        XCTAssertEqual(committed, [0, 1, 2, 3])
        // Pointers from before the growth stay valid and agree with a fresh read.
        let again = try cache.window(1)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: first.ids, count: context * topK)),
                       Array(UnsafeBufferPointer(start: again.ids, count: context * topK)))
        XCTAssertThrowsError(try cache.window(4))
    }

    /// A build interrupted in the middle of a record (file cut inside record 2, or garbage after
    /// the last committed window) resumes to a file byte-identical to an uninterrupted build.
    func testResumeAfterInterruptedWriteIsByteIdentical() throws {
        let stream = tokens(), model = teacher()
        let reference = try bytes(try build("reference.rtkc", windows: windowCount, model: model))
        let stride = (reference.count - 256) / windowCount
        let twoWindows = 256 + 2 * stride

        // Committed count 2, then the first half of record 2 (the writer was killed mid-write).
        let cut = directory + "/cut.rtkc"
        try build("cut.rtkc", windows: 2, model: model)
        try write(try bytes(cut) + reference[twoWindows ..< twoWindows + stride / 2], cut)
        // Committed count 2, then a full record of garbage and more (written but never committed).
        let garbage = directory + "/garbage.rtkc"
        try build("garbage.rtkc", windows: 2, model: model)
        try write(try bytes(garbage) + [UInt8](repeating: 0xAB, count: stride + 100), garbage)

        for path in [cut, garbage] {
            let cache = try TeacherCache.open(path: path, key: try key(tokens: stream))
            XCTAssertEqual(cache.completeWindows, 2, path)
            try cache.verify()
            var computed: [Int] = []
            try cache.ensure(windows: 0..<windowCount, teacher: model, tokens: stream) { computed.append($0.window) }
            XCTAssertEqual(computed, [2, 3], path)
            let resumed = try bytes(path)
            XCTAssertEqual(resumed.count, reference.count, path)
            XCTAssert(resumed == reference, "\(path): first differing byte \(zip(resumed, reference).enumerated().first { $0.1.0 != $0.1.1 }?.0 ?? -1)")
        }
    }

    // MARK: Hostile input

    /// A flipped byte in any field of a record is detected on read, naming file, window and field.
    func testCorruptedRecordByteIsDetected() throws {
        let reference = try bytes(try build("a.rtkc", windows: windowCount))
        let stride = (reference.count - 256) / windowCount
        let t = context, k = topK
        // Byte offsets inside a record, from the spec: ids, logProbs after the ids' checksum, rest.
        let fields: [(String, Int)] = [("ids", 3), ("logProbs", 4 * t * k + 8 + 17), ("rest", 8 * t * k + 16 + 5),
                                       ("ids", 4 * t * k + 1)]   // the last one hits the ids' checksum
        for (field, offset) in fields {
            let path = directory + "/flipped.rtkc"
            var corrupted = reference
            corrupted[256 + 2 * stride + offset] ^= 0x10
            try write(corrupted, path)
            let cache = try TeacherCache.open(path: path, key: try key(tokens: tokens()))
            XCTAssertNoThrow(try cache.window(1))
            assertCacheError(.corruptRecord, field: "window[2].\(field)", file: path) { _ = try cache.window(2) }
            assertCacheError(.corruptRecord, field: "window[2].\(field)", file: path) { try cache.verify() }
        }
        // A record copied into another window's slot fails its window-seeded checksums.
        var swapped = reference
        swapped.replaceSubrange(256 + stride ..< 256 + 2 * stride, with: reference[256 ..< 256 + stride])
        let path = directory + "/swapped.rtkc"
        try write(swapped, path)
        let cache = try TeacherCache.open(path: path, key: try key(tokens: tokens()))
        assertCacheError(.corruptRecord, field: "window[1].ids", file: path) { _ = try cache.window(1) }
    }

    /// Opening with another teacher, corpus or K names the differing key field.
    func testKeyMismatchNamesTheField() throws {
        let stream = tokens()
        let path = try build("a.rtkc", windows: 1)
        assertCacheError(.keyMismatch, field: "key.topK", file: path) {
            _ = try TeacherCache.open(path: path, key: try key(tokens: stream, topK: 6))
        }
        assertCacheError(.keyMismatch, field: "key.teacherHash", file: path) {
            _ = try TeacherCache.open(path: path, key: try key(tokens: stream, teacherByte: 0xBB))
        }
        var other = stream
        other[5] = (other[5] + 1) % 48
        assertCacheError(.keyMismatch, field: "key.corpusHash", file: path) {
            _ = try TeacherCache.open(path: path, key: try key(tokens: other))
        }
        // In a directory, different keys get different files side by side.
        let a = try TeacherCache.open(directory: directory + "/caches", key: try key(tokens: stream))
        let b = try TeacherCache.open(directory: directory + "/caches", key: try key(tokens: stream, topK: 6))
        XCTAssertNotEqual(a.path, b.path)
        XCTAssertTrue((a.path as NSString).lastPathComponent.hasPrefix("teacher-") && a.path.hasSuffix(".rtkc"), a.path)
        XCTAssertEqual(try TeacherCache.open(directory: directory + "/caches", key: try key(tokens: stream)).path, a.path)
    }

    /// Truncated files, bad magic, future versions, corrupt header fields and counts beyond the
    /// file or the key: typed errors naming file and field.
    func testHostileHeadersAreRejected() throws {
        let reference = try bytes(try build("a.rtkc", windows: 2))
        let path = directory + "/hostile.rtkc"
        func open(_ bytes: [UInt8]) throws { try write(bytes, path); _ = try TeacherCache.openExisting(path: path) }
        func setComplete(_ bytes: inout [UInt8], _ count: UInt64) {
            // The count at 112 and its XXH64 at 120, seeded with the key checksum at 104 (spec).
            let seed = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 104, as: UInt64.self) }
            withUnsafeBytes(of: count.littleEndian) { bytes.replaceSubrange(112..<120, with: $0) }
            let check = RTMChecksum.xxh64(Array(bytes[112..<120]), seed: UInt64(littleEndian: seed))
            withUnsafeBytes(of: check.littleEndian) { bytes.replaceSubrange(120..<128, with: $0) }
        }

        assertCacheError(.truncated, field: "header", file: path) { try open([]) }
        assertCacheError(.truncated, field: "header", file: path) { try open(Array(reference[0..<100])) }
        var magic = reference
        magic[0] = UInt8(ascii: "X")
        assertCacheError(.badMagic, field: "header.magic", file: path) { try open(magic) }
        var future = reference
        future[4] = 2
        assertCacheError(.unsupportedVersion, field: "header.version", file: path) { try open(future) }
        var keyByte = reference
        keyByte[82] ^= 1  // inside topK
        assertCacheError(.corruptHeader, field: "header.keyChecksum", file: path) { try open(keyByte) }
        var countByte = reference
        countByte[112] ^= 4
        assertCacheError(.corruptHeader, field: "header.completeWindows", file: path) { try open(countByte) }
        // A consistent count of 2 windows in a file holding 1.5 records.
        let stride = (reference.count - 256) / 2
        assertCacheError(.truncated, field: "header.completeWindows", file: path) {
            try open(Array(reference[0 ..< 256 + stride + stride / 2]))
        }
        // A count larger than the key's window count (checksum valid).
        var tooMany = reference
        setComplete(&tooMany, 99)
        assertCacheError(.corruptHeader, field: "header.completeWindows", file: path) { try open(tooMany) }
        // A count of 3 in a file with 2 records.
        var beyond = reference
        setComplete(&beyond, 3)
        assertCacheError(.truncated, field: "header.completeWindows", file: path) { try open(beyond) }
        // A missing file.
        assertCacheError(.io, field: "file", file: directory + "/none.rtkc") {
            _ = try TeacherCache.openExisting(path: directory + "/none.rtkc")
        }
    }

    /// Arguments that do not fit the key are rejected before any work.
    func testEnsureRejectsMismatchedArguments() throws {
        let stream = tokens()
        let path = directory + "/a.rtkc"
        let cache = try TeacherCache.open(path: path, key: try key(tokens: stream))
        assertCacheError(.badArgument, field: "windows", file: path) {
            try cache.ensure(windows: 0..<5, teacher: teacher(), tokens: stream)
        }
        assertCacheError(.badArgument, field: "tokens", file: path) {
            try cache.ensure(windows: 0..<1, teacher: teacher(), tokens: Array(stream[0..<40]))
        }
        var wide = TinyModels.config
        wide.vocabSize = 64
        assertCacheError(.badArgument, field: "teacher.vocab", file: path) {
            try cache.ensure(windows: 0..<1, teacher: TinyModels.random(wide), tokens: stream)
        }
        XCTAssertThrowsError(try TeacherCacheKey(teacherSHA256: "xyz", tokens: stream, topK: 5, context: 16, vocab: 48))
        XCTAssertThrowsError(try TeacherCacheKey(teacherSHA256: String(repeating: "0", count: 64), tokens: stream,
                                                 topK: 49, context: 16, vocab: 48))
    }

    // MARK: Sparse vs full distillation

    /// With K = V the sparse loss is the full loss; with small K it is below it, and the gradients
    /// still point the same way (tiny teacher, random student).
    func testFidelityMeasurementBounds() throws {
        let model = teacher(), student = teacher(seed: 11), stream = tokens()
        let window = Array(stream[0..<context]), v = TinyModels.config.vocabSize
        let t = try batchedLogits(model, window), s = try batchedLogits(student, window)
        let rows = measureSparseDistillationFidelity(student: s, teacher: t, rows: context, vocab: v,
                                                     topKs: [4, v], temperatures: [1, 2])
        XCTAssertEqual(rows.map(\.topK), [4, v, 4, v])
        for row in rows where row.topK == v {
            XCTAssertEqual(row.lossRatio, 1, accuracy: 1e-4, "\(row)")
            XCTAssertEqual(row.gradientCosine, 1, accuracy: 1e-5, "\(row)")
            XCTAssertEqual(row.meanRestMass, 0, accuracy: 1e-6)
        }
        let sparseAtOne = rows[0]
        XCTAssertLessThan(sparseAtOne.lossRatio, 1, "\(sparseAtOne)")
        XCTAssertGreaterThan(sparseAtOne.meanRestMass, 0.2, "\(sparseAtOne)")
        XCTAssertGreaterThan(sparseAtOne.gradientCosine, 0.3, "\(sparseAtOne)")
    }
}

/// The cache and the sparse-vs-full comparison on the real teacher and the training split.
///
/// By default one window of 64 tokens, K = 32 and the layer-dropped student. The table in
/// docs/DISTILLATION.md ("Teacher signal cache") comes from
///   RETORT_FIDELITY_WINDOWS=2 RETORT_FIDELITY_CONTEXT=256 RETORT_FIDELITY_K=8,16,32,64,128 \
///   RETORT_FIDELITY_RANDOM=1 swift test --skip-build --filter TeacherCacheTeacherTests
final class TeacherCacheTeacherTests: XCTestCase {
    private func setting(_ name: String, _ fallback: String) -> String {
        ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 } ?? fallback
    }

    func testRealTeacherCacheAndSparseFidelity() throws {
        let file = try GGUFFile.open(path: try TestInputs.requireTeacher())
        let text = try String(contentsOfFile: try TestInputs.requireSplit("train"), encoding: .utf8)
        let teacher = try LlamaModel.load(gguf: file), tokenizer = try BPETokenizer.load(gguf: file)
        let context = Int(setting("RETORT_FIDELITY_CONTEXT", "64"))!
        let windows = Int(setting("RETORT_FIDELITY_WINDOWS", "1"))!
        let topKs = setting("RETORT_FIDELITY_K", "32").split(separator: ",").map { Int($0)! }
        let v = teacher.config.vocabSize
        // The first ~4 characters per token of the split, cut to whole windows.
        let tokens = Array(tokenizer.encode(String(text.prefix(context * windows * 6))).prefix(context * windows))
        XCTAssertEqual(tokens.count, context * windows)

        // Cache the windows (K = the largest K measured) and check them against the teacher.
        let directory = NSTemporaryDirectory() + "teacher-cache-real-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = try TeacherCacheKey(teacherSHA256: String(repeating: "0", count: 64), tokens: tokens,
                                      topK: topKs.max()!, context: context, vocab: v)
        let cache = try TeacherCache.open(directory: directory, key: key)
        let start = Date()
        try cache.ensure(windows: 0..<windows, teacher: teacher, tokens: tokens)
        let seconds = Date().timeIntervalSince(start)
        print("teacher cache: \(windows * context) tokens in \(String(format: "%.1f", seconds)) s, K = \(key.topK), "
              + "\(cache.recordBytes) bytes per window")

        // Teacher logits (N, V) for the windows, each from an empty KV cache.
        var teacherLogits: [Float] = []
        for w in 0..<windows {
            teacherLogits += try batchedLogits(teacher, Array(tokens[w * context ..< (w + 1) * context]))
            let entry = try cache.window(w)
            for t in 0..<context {
                let row = Array(teacherLogits[(w * context + t) * v ..< (w * context + t + 1) * v])
                let argmax = row.withUnsafeBufferPointer(Sampler.argmax)
                XCTAssertEqual(entry.ids[t * key.topK], argmax, "window \(w) position \(t): cached top-1")
                XCTAssert(entry.rest[t] >= 0 && entry.rest[t] < 1, "window \(w) position \(t): rest \(entry.rest[t])")
            }
        }

        // Students: the teacher with every other layer dropped, and a randomly initialised 4-layer model.
        let w = teacher.weights
        var halfConfig = teacher.config
        halfConfig.layerCount = (teacher.config.layerCount + 1) / 2
        let half = LlamaModel(config: halfConfig, weights: LlamaWeights(
            tokenEmbedding: w.tokenEmbedding, layers: stride(from: 0, to: w.layers.count, by: 2).map { w.layers[$0] },
            finalNorm: w.finalNorm, output: w.output))
        var randomConfig = teacher.config
        randomConfig.layerCount = 4
        let random = LlamaModel(config: randomConfig)
        if setting("RETORT_FIDELITY_RANDOM", "0") == "1" { initializeRandom(random, seed: 1) }

        var table = "| student | K | τ | mean rest mass | full KL·τ² | sparse / full | gradient cosine |\n|---|---|---|---|---|---|---|\n"
        var students = [("teacher, every other layer (15 of 30)", half)]
        if setting("RETORT_FIDELITY_RANDOM", "0") == "1" { students.append(("random init, 4 layers", random)) }
        for (name, student) in students {
            var studentLogits: [Float] = []
            for w in 0..<windows {
                studentLogits += try batchedLogits(student, Array(tokens[w * context ..< (w + 1) * context]))
            }
            let rows = measureSparseDistillationFidelity(student: studentLogits, teacher: teacherLogits, rows: windows * context,
                                                         vocab: v, topKs: topKs, temperatures: [1, 2])
            for row in rows.sorted(by: { ($0.temperature, $0.topK) < ($1.temperature, $1.topK) }) {
                table += "| \(name) | \(row.topK) | \(Int(row.temperature)) | " + String(format: "%.4f | %.3f | %.4f | %.4f |\n",
                    row.meanRestMass, row.fullLoss, row.lossRatio, row.gradientCosine)
                // At τ = 1 the sparse loss is a coarsening of the full one (data processing): never above it.
                if row.temperature == 1 { XCTAssertLessThanOrEqual(row.lossRatio, 1 + 1e-4, "\(name): \(row)") }
                XCTAssertGreaterThan(row.gradientCosine, 0.5, "\(name): \(row)")
                XCTAssertLessThan(row.meanRestMass, 0.5, "\(name): \(row)")
            }
        }
        print("sparse vs full distillation over \(windows) × \(context) training tokens:\n" + table)
    }
}
