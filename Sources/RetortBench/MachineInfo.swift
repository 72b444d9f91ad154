import Foundation
import RetortRuntime
#if canImport(Glibc)
import Glibc
#endif

/// The machine a report was measured on.
public struct MachineInfo: Codable, Sendable, Equatable {
    public var cpuModel: String
    /// Every CPU feature flag the kernel reports (/proc/cpuinfo `flags` or `Features`).
    public var cpuFlags: [String]
    /// The flags that matter for these kernels (SIMD width, FMA, dot-product instructions).
    public var notableFlags: [String]
    public var logicalCores: Int
    public var memoryBytes: Int
    /// Operating system and its kernel release (uname).
    public var os: String
    public var architecture: String
    /// RetortRuntime's kernel path on this CPU (reference, portable, avx2, neonDot, neon).
    public var kernelPath: String
    /// How this binary was compiled; debug builds are much slower for the Swift parts.
    public var build: String
    public var date: String

    public init(cpuModel: String, cpuFlags: [String], notableFlags: [String], logicalCores: Int, memoryBytes: Int,
                os: String, architecture: String, kernelPath: String, build: String, date: String) {
        self.cpuModel = cpuModel
        self.cpuFlags = cpuFlags
        self.notableFlags = notableFlags
        self.logicalCores = logicalCores
        self.memoryBytes = memoryBytes
        self.os = os
        self.architecture = architecture
        self.kernelPath = kernelPath
        self.build = build
        self.date = date
    }

    static let interestingFlags: Set<String> = [
        "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
        "avx512_bf16", "amx_int8", "asimd", "asimddp", "asimdhp", "fphp", "i8mm", "sve", "sve2", "bf16",
    ]

    /// Reads the current machine.
    public static func current(date: Date = Date()) -> MachineInfo {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let (model, flags) = parseCPUInfo(cpuinfo)
        var name = utsname()
        uname(&name)
        func field<T>(_ value: inout T) -> String {
            withUnsafeBytes(of: &value) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        let os = "\(field(&name.sysname)) \(field(&name.release))"
        let arch = field(&name.machine)
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        let formatter = ISO8601DateFormatter()
        return MachineInfo(cpuModel: model ?? arch, cpuFlags: flags, notableFlags: flags.filter { interestingFlags.contains($0) },
                           logicalCores: ProcessInfo.processInfo.activeProcessorCount,
                           memoryBytes: Int(clamping: ProcessInfo.processInfo.physicalMemory),
                           os: os, architecture: arch, kernelPath: "\(Kernels.active)", build: build,
                           date: formatter.string(from: date))
    }

    /// CPU model name and feature flags from the text of /proc/cpuinfo (first processor).
    static func parseCPUInfo(_ text: String) -> (model: String?, flags: [String]) {
        var model: String?, flags: [String]?
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if model == nil, key == "model name" || key == "Model" || key == "cpu model" { model = value }
            if flags == nil, key == "flags" || key == "Features" { flags = value.split(separator: " ").map(String.init) }
            if model != nil && flags != nil { break }
        }
        return (model, flags ?? [])
    }
}
