import Foundation
import RetortModel
#if canImport(Glibc)
import Glibc
#endif

/// How a child process ended.
public struct ProcessOutcome: Sendable {
    public var status: Int32          // exit status, or 128 + signal
    public var peakRSSBytes: Int      // ru_maxrss of the child
    public var seconds: Double        // wall time
    public var stdout: String
    public var stderr: String
}

/// Runs `executable` with `arguments`, standard output and error captured through files (so no
/// pipe can fill up), and returns its exit status and peak RSS (wait4). Throws only when the
/// process cannot be started.
public func runProcess(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws(BenchError) -> ProcessOutcome {
    let dir = FileManager.default.temporaryDirectory.path
    let tag = "retort-bench-\(getpid())-\(UInt64.random(in: 0 ... .max))"
    let outPath = "\(dir)/\(tag).out", errPath = "\(dir)/\(tag).err"
    defer {
        unlink(outPath)
        unlink(errPath)
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

    let argv = ([executable] + arguments).map { strdup($0) }
    defer { argv.forEach { free($0) } }
    let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") }
    defer { env.forEach { free($0) } }
    var pid: pid_t = 0
    let start = ContinuousClock.now
    let rc = (argv + [nil]).withUnsafeBufferPointer { a in
        (env + [nil]).withUnsafeBufferPointer { e in
            posix_spawn(&pid, executable, &actions, nil, UnsafeMutablePointer(mutating: a.baseAddress!),
                        UnsafeMutablePointer(mutating: e.baseAddress!))
        }
    }
    guard rc == 0 else {
        throw BenchError(file: executable, field: "spawn", message: String(cString: strerror(rc)))
    }
    var status: Int32 = 0
    var usage = rusage()
    while wait4(pid, &status, 0, &usage) < 0 {
        guard errno == EINTR else {
            throw BenchError(file: executable, field: "wait4", message: String(cString: strerror(errno)))
        }
    }
    let seconds = (ContinuousClock.now - start).seconds
    // WIFEXITED / WEXITSTATUS / WTERMSIG are macros; decode the status word directly.
    let exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    let read = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
    return ProcessOutcome(status: exitStatus, peakRSSBytes: Int(usage.ru_maxrss) * 1024, seconds: seconds,
                          stdout: read(outPath), stderr: read(errPath))
}

/// The absolute path of the running executable (/proc/self/exe), for re-invoking it.
public func currentExecutablePath() -> String {
    if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
    return Bundle.main.executablePath ?? CommandLine.arguments[0]
}

/// The first executable named `name` on PATH, or nil.
public func findOnPath(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for dir in path.split(separator: ":") where !dir.isEmpty {
        let candidate = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}
