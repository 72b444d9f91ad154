/// Minimum multiply-adds before a kernel call is worth waking the pool for. Low enough that the
/// decode GEMVs of small key/value projections (192 × 576 in SmolLM2-135M: 0.44 MB of f32
/// weights) are split too: decoding is memory-bound, and one core alone does not saturate it.
let kernelParallelMinWork = 1 << 15

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
