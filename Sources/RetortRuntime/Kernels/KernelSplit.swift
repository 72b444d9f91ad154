/// Minimum multiply-adds before a kernel call is worth waking the pool for.
let kernelParallelMinWork = 1 << 17

/// Runs `body(n0, n1)` over `0..<n` output columns, split across `pool` when the call is big
/// enough (`work` multiply-adds). Column ranges are multiples of `align` so tiles stay full.
@inline(__always)
func forEachColumnRange(_ n: Int, work: Int, align: Int, pool: ThreadPool?,
                        _ body: (Int, Int) -> Void) {
    guard let pool, pool.threadCount > 1, work >= kernelParallelMinWork, n > align else {
        body(0, n)
        return
    }
    pool.parallelChunks(n, minChunk: align) { range in body(range.lowerBound, range.upperBound) }
}
