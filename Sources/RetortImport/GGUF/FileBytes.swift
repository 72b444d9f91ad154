#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Read-only bytes of a whole file: memory-mapped from disk, or a private copy of an array.
/// Unmapped / freed when the last reference goes away.
///
/// A mapped file that another process truncates while it is mapped can still fault (SIGBUS);
/// that is the price of not copying 100 MB at open.
final class FileBytes: @unchecked Sendable {
    let buffer: UnsafeRawBufferPointer
    private let mapped: Bool
    private let allocation: UnsafeMutableRawPointer?

    init(copying bytes: [UInt8]) {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        bytes.withUnsafeBytes { storage.copyMemory(from: $0) }
        buffer = UnsafeRawBufferPointer(rebasing: storage[0 ..< bytes.count])
        mapped = false
        allocation = storage.baseAddress
    }

    init(mapping path: String) throws(GGUFError) {
        func failure(_ what: String) -> GGUFError {
            GGUFError(file: path, field: what, kind: .io(String(cString: strerror(errno))))
        }
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw failure("open") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure("stat") }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw GGUFError(file: path, field: "open", kind: .io("not a regular file"))
        }
        guard let size = Int(exactly: info.st_size) else {
            throw GGUFError(file: path, field: "stat", kind: .overflow)
        }
        if size == 0 {  // mmap rejects empty mappings; an empty file is simply too short
            buffer = UnsafeRawBufferPointer(start: nil, count: 0)
            mapped = false
            allocation = nil
            return
        }
        let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let address, address != MAP_FAILED else { throw failure("mmap") }
        buffer = UnsafeRawBufferPointer(start: address, count: size)
        mapped = true
        allocation = nil
    }

    deinit {
        if mapped, let base = buffer.baseAddress {
            munmap(UnsafeMutableRawPointer(mutating: base), buffer.count)
        }
        allocation?.deallocate()
    }
}
