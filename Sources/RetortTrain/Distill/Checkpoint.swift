import Foundation
import RetortModel
import RetortRuntime

/// A training checkpoint: the student's parameters, AdamW's moments and step, and the run's state
/// as JSON (where the data stream is, the losses so far, the settings it was started with).
///
/// Layout (little-endian):
///   "RTCK" · version u32 · state length u64 · state (UTF-8 JSON) · config (9 × u64: V, D, L, H,
///   G, E, F, tied, reserved) · parameters · first moments · second moments (f32, in
///   `LlamaTensorName.table` order, each tensor once) · XXH64 of everything before it (u64).
/// Written to a temporary file, flushed to disk, then renamed over the target: a reader sees the
/// old checkpoint or the new one, never a mix.
public enum Checkpoint {
    static let magic: [UInt8] = Array("RTCK".utf8)
    static let version: UInt32 = 1

    /// Writes `state`, the model and optimizer to `path` atomically.
    public static func write<State: Encodable>(to path: String, state: State, model: LlamaModel,
                                               optimizer: AdamW) throws {
        let json = try JSONEncoder().encode(state)
        var header: [UInt8] = magic
        append(&header, UInt32(version))
        append(&header, UInt64(json.count))
        header += json
        for value in configWords(model.config) { append(&header, value) }
        let tables = [model.weights, optimizer.m, optimizer.v].map { LlamaTensorName.table(config: model.config, weights: $0) }
        // The whole file is assembled in memory (parameters + moments: 12 bytes per parameter),
        // hashed, written once and flushed.
        var bytes = header
        bytes.reserveCapacity(header.count + tables.reduce(0) { $0 + $1.reduce(0) { $0 + $1.buffer.count * 4 } } + 8)
        for table in tables {
            for entry in table {
                bytes += UnsafeRawBufferPointer(start: entry.buffer.pointer, count: entry.buffer.count * 4)
            }
        }
        append(&bytes, bytes.withUnsafeBytes { RTMChecksum.xxh64($0) })
        let temp = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temp, contents: nil),
              let handle = FileHandle(forWritingAtPath: temp) else {
            throw ModelError(file: temp, field: "checkpoint", message: "cannot create")
        }
        do {
            defer { try? handle.close() }
            try handle.write(contentsOf: bytes)
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(atPath: temp)
            throw ModelError(file: temp, field: "checkpoint", message: "write failed: \(error)")
        }
        if rename(temp, path) != 0 {
            try? FileManager.default.removeItem(atPath: temp)
            throw ModelError(file: path, field: "checkpoint", message: "cannot rename from \(temp): \(String(cString: strerror(errno)))")
        }
    }

    /// Reads the checkpoint at `path` into `model` and `optimizer` (whose config must match) and
    /// returns its state. Every field is checked before use; the checksum covers the whole file.
    public static func read<State: Decodable>(_ type: State.Type, from path: String, model: LlamaModel,
                                              optimizer: AdamW) throws -> State {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError(file: path, field: "checkpoint", message: "cannot read")
        }
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> State in
            func fail(_ field: String, _ message: String) -> ModelError { ModelError(file: path, field: field, message: message) }
            let (state, jsonEnd) = try decodeState(State.self, raw, path: path)
            var offset = jsonEnd
            let expected = configWords(model.config)
            for (i, word) in expected.enumerated() {
                let found = raw.loadUnaligned(fromByteOffset: offset + 8 * i, as: UInt64.self).littleEndian
                guard found == word else {
                    throw fail("config[\(configNames[i])]", "checkpoint has \(found), the model being trained has \(word)")
                }
            }
            offset += 72
            let tables = [model.weights, optimizer.m, optimizer.v].map { LlamaTensorName.table(config: model.config, weights: $0) }
            let floats = tables.reduce(0) { $0 + $1.reduce(0) { $0 + $1.buffer.count } }
            guard raw.count - 8 - offset == floats * 4 else {
                throw fail("tensors", "\(raw.count - 8 - offset) bytes of tensors, expected \(floats * 4)")
            }
            for table in tables {
                for entry in table {
                    let count = entry.buffer.count
                    UnsafeMutableRawPointer(entry.buffer.pointer).copyMemory(from: raw.baseAddress! + offset, byteCount: count * 4)
                    offset += count * 4
                }
            }
            return state
        }
    }

    /// Only the state of the checkpoint at `path` (checked like `read`): what a resumed run needs
    /// to rebuild the model it then reads the tensors into.
    public static func readState<State: Decodable>(_ type: State.Type, from path: String) throws -> State {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError(file: path, field: "checkpoint", message: "cannot read")
        }
        return try data.withUnsafeBytes { try decodeState(State.self, $0, path: path).state }
    }

    /// Checks size, magic, version and checksum of a whole checkpoint and decodes its state;
    /// returns the state and the offset just past it.
    private static func decodeState<State: Decodable>(_ type: State.Type, _ raw: UnsafeRawBufferPointer,
                                                      path: String) throws -> (state: State, end: Int) {
        func fail(_ field: String, _ message: String) -> ModelError { ModelError(file: path, field: field, message: message) }
        guard raw.count >= 16 + 72 + 8 else { throw fail("size", "\(raw.count) bytes is shorter than any checkpoint") }
        guard Array(raw[0..<4]) == magic else { throw fail("magic", "not a Retort checkpoint (expected \"RTCK\")") }
        let version = raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self).littleEndian
        guard version == Self.version else { throw fail("version", "\(version); this build reads version \(Self.version)") }
        let stored = raw.loadUnaligned(fromByteOffset: raw.count - 8, as: UInt64.self).littleEndian
        let actual = RTMChecksum.xxh64(UnsafeRawBufferPointer(rebasing: raw[0..<(raw.count - 8)]))
        guard stored == actual else {
            throw fail("checksum", "stored \(RTMChecksum.hex(stored)) but the contents hash to \(RTMChecksum.hex(actual)): the file is corrupt")
        }
        let jsonLength = raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian
        guard jsonLength <= UInt64(raw.count - 16 - 72 - 8) else { throw fail("state length", "\(jsonLength) runs past the end") }
        let end = 16 + Int(jsonLength)
        do {
            return (try JSONDecoder().decode(State.self, from: Data(raw[16..<end])), end)
        } catch {
            throw fail("state", "cannot decode: \(error)")
        }
    }

    static let configNames = ["vocab", "dim", "layers", "heads", "kv-heads", "head-dim", "ffn", "tied", "reserved"]

    static func configWords(_ c: LlamaConfig) -> [UInt64] {
        [c.vocabSize, c.dim, c.layerCount, c.headCount, c.kvHeadCount, c.headDim, c.ffnDim, c.tiedEmbeddings ? 1 : 0, 0]
            .map { UInt64($0) }
    }

    static func append<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }
}
