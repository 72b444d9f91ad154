import CRetortShim

/// A fixed set of pthreads (through the C shim; no Dispatch) that runs data-parallel loops.
///
/// `threads - 1` workers are started once; the calling thread is the last participant, so
/// `ThreadPool(threads: 1)` starts nothing and runs every loop inline. Idle workers spin for a few
/// microseconds, then sleep on a condition variable (no CPU cost between jobs).
///
/// One loop runs at a time: a `parallelFor` issued while another is running (nested inside a body,
/// or from another thread) runs serially on its calling thread. Bodies must not throw or block on
/// each other.
public final class ThreadPool: @unchecked Sendable {
    /// Threads that execute a loop, the caller included.
    public let threadCount: Int
    private let handle: OpaquePointer

    /// Starts `threads - 1` workers. `threads` must be at least 1.
    public init(threads: Int) {
        precondition(threads >= 1 && threads <= 1024, "ThreadPool: threads must be in 1...1024")
        guard let handle = retort_pool_create(Int32(threads)) else {
            preconditionFailure("ThreadPool: could not start worker threads")
        }
        self.threadCount = threads
        self.handle = handle
    }

    deinit { retort_pool_destroy(handle) }

    /// Calls `body(i)` exactly once for every `i` in `0..<count`; indices are handed out one at a
    /// time to whichever thread is free (the caller included). Returns when every call finished.
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        if count <= 0 { return }
        if threadCount == 1 || count == 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            var task = escapable
            withUnsafeMutablePointer(to: &task) { context in
                retort_pool_run(handle, Int64(count), { context, index in
                    context.unsafelyUnwrapped.assumingMemoryBound(to: ((Int) -> Void).self)
                        .pointee(Int(index))
                }, UnsafeMutableRawPointer(context))
            }
        }
    }

    /// Splits `0..<count` into at most `4 × threadCount` contiguous ranges (several per thread, so
    /// a thread slowed by a neighbour does not hold everyone up) and calls `body` once per range.
    /// Range boundaries are multiples of `minChunk` (except the final `count`) and every range but
    /// the last holds at least `minChunk` items. The ranges cover `0..<count` exactly once.
    public func parallelChunks(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let grain = max(1, minChunk)
        let pieces = min(4 * threadCount, max(1, count / grain))
        if pieces == 1 {
            body(0..<count)
            return
        }
        @inline(__always) func bound(_ j: Int) -> Int {
            j == pieces ? count : (count * j / pieces) / grain * grain
        }
        parallelFor(pieces) { j in
            let lo = bound(j), hi = bound(j + 1)
            if lo < hi { body(lo..<hi) }
        }
    }
}
