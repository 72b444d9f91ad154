import CRetortShim

/// A fixed-size, 64-byte-aligned, zero-initialised buffer of trivial elements, owned by its
/// instance. The runtime allocates its run state in these once, when a session is built.
public final class AlignedBuffer<Element> {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Element>

    public init(count: Int, zero: Element) {
        precondition(count >= 0, "AlignedBuffer count must be non-negative")
        guard let raw = retort_aligned_alloc(64, max(count, 1) * MemoryLayout<Element>.stride) else {
            fatalError("AlignedBuffer: out of memory")
        }
        self.count = count
        pointer = raw.bindMemory(to: Element.self, capacity: max(count, 1))
        pointer.initialize(repeating: zero, count: count)
    }

    deinit { retort_free(pointer) }

    public var buffer: UnsafeMutableBufferPointer<Element> { UnsafeMutableBufferPointer(start: pointer, count: count) }
}
