import CRetortShim

/// The bytes of one `.rtm` file: mapped read-only from disk, or an aligned private copy.
/// Released when the last `RTMFile` (and so the last tensor view's owner) goes away.
///
/// A mapped file that another process truncates while it is mapped can still fault (SIGBUS);
/// that is the price of not copying the weights at load.
final class RTMStorage {
    let bytes: UnsafeRawBufferPointer
    private let mapped: Bool
    private let allocation: UnsafeMutableRawPointer?  // the copy, when not mapped

    /// Copies `source` into memory aligned to a page, so tensor data keeps its file alignment.
    init(copying source: [UInt8]) {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(source.count, 1), alignment: 4096)
        source.withUnsafeBytes { storage.copyMemory(from: $0) }
        bytes = UnsafeRawBufferPointer(rebasing: storage[0 ..< source.count])
        mapped = false
        allocation = storage.baseAddress
    }

    init(mapping path: String) throws(RTMError) {
        func failure(_ step: String) -> RTMError {
            RTMError(file: path, field: step, message: String(cString: retort_error_string(retort_errno())))
        }
        let fd = path.withCString { retort_open_read($0) }
        guard fd >= 0 else { throw failure("open") }
        defer { _ = retort_close(fd) }
        switch retort_is_regular_file(fd) {
        case 1: break
        case 0: throw RTMError(file: path, field: "open", message: "not a regular file")
        default: throw failure("stat")
        }
        let rawSize = retort_file_size(fd)
        guard rawSize >= 0 else { throw failure("stat") }
        guard let size = Int(exactly: rawSize) else {
            throw RTMError(file: path, field: "stat", message: "file size \(rawSize) does not fit in memory")
        }
        if size == 0 {  // mmap rejects empty mappings; the parser reports the file as too short
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            mapped = false
            allocation = nil
            return
        }
        guard let address = retort_mmap_read(fd, size) else { throw failure("mmap") }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
        mapped = true
        allocation = nil
    }

    deinit {
        if mapped, let base = bytes.baseAddress { _ = retort_munmap(base, bytes.count) }
        allocation?.deallocate()
    }
}
