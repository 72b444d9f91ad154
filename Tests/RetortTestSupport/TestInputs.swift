import Foundation
import XCTest

/// Locations of the real inputs that `tools/setup.sh` fetches (teacher GGUF, corpus split).
///
/// Integration tests call `TestInputs.require…()`: when the inputs are missing they skip locally,
/// and fail when `CI` is set, so CI never passes by skipping.
public enum TestInputs {
    /// `$RETORT_CACHE`, else `$XDG_CACHE_HOME/retort`, else `~/.cache/retort` (same rule as tools/lib.sh).
    public static var cacheDirectory: String {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["RETORT_CACHE"], !dir.isEmpty { return dir }
        if let xdg = env["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/retort" }
        return NSHomeDirectory() + "/.cache/retort"
    }

    public static var teacherPath: String { cacheDirectory + "/teacher/SmolLM2-135M-Instruct.Q4_1.gguf" }
    public static var corpusDirectory: String { cacheDirectory + "/corpus" }
    public static func splitPath(_ split: String) -> String { corpusDirectory + "/\(split).txt" }
    public static var llamaCppBin: String { cacheDirectory + "/llama.cpp/bin" }

    public static func requireFile(_ path: String) throws -> String {
        if FileManager.default.fileExists(atPath: path) { return path }
        let message = "missing input \(path); run tools/setup.sh"
        if ProcessInfo.processInfo.environment["CI"] != nil {
            XCTFail(message)
            throw XCTSkip(message)
        }
        throw XCTSkip(message)
    }

    public static func requireTeacher() throws -> String { try requireFile(teacherPath) }
    public static func requireSplit(_ split: String) throws -> String { try requireFile(splitPath(split)) }
}
