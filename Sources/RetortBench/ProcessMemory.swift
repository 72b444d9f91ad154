import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Memory of this process from /proc/self/status, in bytes (0 where the kernel does not say).
public struct ProcessMemory: Codable, Sendable, Equatable {
    /// VmHWM: the peak resident set size so far.
    public var peakRSS: Int
    /// VmRSS: resident now.
    public var rss: Int
    /// RssAnon: resident anonymous memory now (heap, stacks, KV cache: not file-backed).
    public var anonRSS: Int
    /// RssFile: resident file-backed memory now (mapped model files, the binary).
    public var fileRSS: Int

    public static func current() -> ProcessMemory {
        parse((try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? "")
    }

    /// Parses the text of /proc/PID/status.
    static func parse(_ status: String) -> ProcessMemory {
        var m = ProcessMemory(peakRSS: 0, rss: 0, anonRSS: 0, fileRSS: 0)
        for line in status.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count >= 2, let kb = Int(parts[1]) else { continue }
            switch parts[0] {
            case "VmHWM:": m.peakRSS = kb * 1024
            case "VmRSS:": m.rss = kb * 1024
            case "RssAnon:": m.anonRSS = kb * 1024
            case "RssFile:": m.fileRSS = kb * 1024
            default: break
            }
        }
        return m
    }
}

/// The page cache's copy of a file: dropping it for cold-load measurements, and checking how much
/// of the file is still cached.
public enum PageCache {
    /// Writes back and drops the cached pages of `path` (posix_fadvise POSIX_FADV_DONTNEED; no root
    /// needed). Pages that another process maps stay cached. Returns false if the call failed.
    @discardableResult
    public static func drop(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        _ = fdatasync(fd)   // dirty pages cannot be dropped
        return posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_DONTNEED)) == 0
    }

    /// The fraction of `path`'s pages in the page cache (mincore on a fresh mapping), or nil.
    public static func residentFraction(_ path: String) -> Double? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size > 0 else { return nil }
        let size = Int(info.st_size)
        guard let address = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), address != MAP_FAILED else { return nil }
        defer { munmap(address, size) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let pages = (size + page - 1) / page
        var vector = [UInt8](repeating: 0, count: pages)
        guard mincore(address, size, &vector) == 0 else { return nil }
        return Double(vector.reduce(0) { $0 + Int($1 & 1) }) / Double(pages)
    }
}
