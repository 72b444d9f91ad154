import ArgumentParser
import Foundation
import RetortImport
import RetortModel
import RetortRuntime

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model file's metadata, tensor table and parameter count.")

    @Argument(help: "Model file (GGUF or .rtm).")
    var file: String

    @Option(name: .long, help: "Array elements shown per metadata array.")
    var arrayItems = 6

    @Flag(name: .long, help: "Print the tensor table only.")
    var tensorsOnly = false

    func validate() throws {
        guard FileManager.default.fileExists(atPath: file) else { throw ValidationError("no such file '\(file)'") }
        guard arrayItems >= 0 else { throw ValidationError("--array-items must be ≥ 0") }
    }

    func run() throws {
        if file.hasSuffix(".rtm") { return try inspectRTM() }
        let gguf = try GGUFFile.open(path: file)
        print("file: \(file)")
        print("format: GGUF v\(gguf.version), \(gguf.fileSize) bytes, alignment \(gguf.alignment), \(gguf.metadata.count) metadata keys, \(gguf.tensors.count) tensors")
        if !tensorsOnly {
            print("\nmetadata:")
            for (key, value) in gguf.metadata {
                print("  \(key) = \(describe(value))")
            }
        }
        print("\ntensors:")
        let nameWidth = max(4, gguf.tensors.map(\.name.count).max() ?? 0)
        print("  " + "name".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  type   shape (innermost first)      bytes")
        var parameters = 0
        var byType: [String: Int] = [:]
        for t in gguf.tensors {
            parameters += t.elementCount
            byType[t.type.name, default: 0] += 1
            let shape = "[" + t.dims.map(String.init).joined(separator: ", ") + "]"
            print("  " + t.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
                  + t.type.name.padding(toLength: 6, withPad: " ", startingAt: 0) + " "
                  + shape.padding(toLength: 28, withPad: " ", startingAt: 0) + " \(t.byteCount)")
        }
        let types = byType.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        print("\nparameters: \(parameters) (\(format(Double(parameters) / 1e6)) M) in \(gguf.tensors.count) tensors: \(types)")
        if let config = try? LlamaConfig(gguf: gguf) {
            print("model: \(config)")
        }
    }

    private func describe(_ value: GGUFValue) -> String {
        switch value {
        case .string(let s):
            let line = s.replacingOccurrences(of: "\n", with: "\\n")
            return "\"" + (line.count > 120 ? String(line.prefix(120)) + "…" : line) + "\""
        case .array(let type, let values):
            let shown = values.prefix(arrayItems).map(describe).joined(separator: ", ")
            let more = values.count > arrayItems ? ", …" : ""
            return "[\(type)×\(values.count)] [\(shown)\(more)]"
        case .uint8(let v): return "\(v)"
        case .int8(let v): return "\(v)"
        case .uint16(let v): return "\(v)"
        case .int16(let v): return "\(v)"
        case .uint32(let v): return "\(v)"
        case .int32(let v): return "\(v)"
        case .uint64(let v): return "\(v)"
        case .int64(let v): return "\(v)"
        case .float32(let v): return "\(v)"
        case .float64(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        }
    }

    private func inspectRTM() throws {
        let rtm = try RTMFile.open(path: file)
        print("file: \(file)")
        print("format: RTM v\(rtm.version.major).\(rtm.version.minor), \(rtm.fileSize) bytes, alignment \(rtm.alignment), \(rtm.metadataCount) metadata keys, \(rtm.tensors.count) tensors (checksums verified)")
        if !tensorsOnly {
            print("\nmetadata:")
            for (key, value) in rtm.metadata { print("  \(key) = \(describe(value))") }
        }
        print("\ntensors:")
        let nameWidth = max(4, rtm.tensors.map(\.name.count).max() ?? 0)
        print("  " + "name".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  dtype            shape (innermost first)      bytes")
        var parameters = 0, bytes = 0
        var byType: [String: Int] = [:]
        for t in rtm.tensors {
            parameters += t.elementCount
            bytes += t.dataBytes + 4 * t.scaleCount
            byType["\(t.dtype)", default: 0] += 1
            let shape = "[" + t.dims.map(String.init).joined(separator: ", ") + "]"
            print("  " + t.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
                  + "\(t.dtype)".padding(toLength: 16, withPad: " ", startingAt: 0) + " "
                  + shape.padding(toLength: 28, withPad: " ", startingAt: 0) + " \(t.dataBytes + 4 * t.scaleCount)")
        }
        let types = byType.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        print("\nparameters: \(parameters) (\(format(Double(parameters) / 1e6)) M) in \(rtm.tensors.count) tensors: \(types); "
              + "\(format(Double(bytes) / Double(max(parameters, 1)), 3)) bytes per parameter")
    }

    private func describe(_ value: RTMValue) -> String {
        switch value {
        case .int(let v): return "\(v)"
        case .float(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        case .string(let s):
            let line = s.replacingOccurrences(of: "\n", with: "\\n")
            return "\"" + (line.count > 120 ? String(line.prefix(120)) + "…" : line) + "\""
        case .ints(let a): return "[int×\(a.count)] " + list(a.prefix(arrayItems).map { "\($0)" }, a.count)
        case .floats(let a): return "[float×\(a.count)] " + list(a.prefix(arrayItems).map { "\($0)" }, a.count)
        case .strings(let a): return "[string×\(a.count)] " + list(a.prefix(arrayItems).map { "\"\($0)\"" }, a.count)
        }
    }

    private func list(_ shown: [String], _ count: Int) -> String {
        "[" + shown.joined(separator: ", ") + (count > shown.count ? ", …" : "") + "]"
    }
}
