import COpenBLAS
import Dispatch
import Foundation

/// Thread count for the host engine. The engine splits work across its own workers and calls
/// OpenBLAS single-threaded from each: OpenBLAS's own threads would spin (sched_yield) while the
/// engine's element-wise loops run, and the two pools would fight over the cores.
public enum HostThreads {
    nonisolated(unsafe) public private(set) static var count: Int = {
        openblas_set_num_threads(1)
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Uses `n` workers for the engine's loops (OpenBLAS stays single-threaded inside each).
    public static func set(_ n: Int) {
        precondition(n >= 1, "thread count must be positive")
        openblas_set_num_threads(1)
        count = n
    }
}

/// Runs `body(worker, workers)` once on each of `workers` threads (worker in 0..<workers).
@inline(__always)
public func parallelWorkers(_ workers: Int, _ body: (Int) -> Void) {
    if workers <= 1 {
        body(0)
        return
    }
    withoutActuallyEscaping(body) { body in
        let task = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: workers) { w in task.value(w) }
    }
}

/// Runs `body(range)` over `0..<count` split into contiguous chunks, one per worker.
@inline(__always)
public func parallelChunks(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    let workers = min(HostThreads.count, max(1, count / max(minChunk, 1)))
    if workers <= 1 {
        body(0..<count)
        return
    }
    withoutActuallyEscaping(body) { body in
        let task = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            let lo = count * w / workers, hi = count * (w + 1) / workers
            if lo < hi { task.value(lo..<hi) }
        }
    }
}

/// Carries a value into `concurrentPerform`; callers guarantee workers touch disjoint memory.
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
