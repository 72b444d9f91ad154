import COpenBLAS
import RetortModel

// Bias-free linear layer on OpenBLAS. N = B·T rows, IN / OUT the layer's widths.
// Weights are row-major (OUT, IN), as in `LlamaWeights`.
//
// Threads: OpenBLAS runs single-threaded inside each of the engine's workers (see `HostThreads`);
// every product is split into disjoint column or row blocks of its output, one per worker, so
// workers never write the same element and results do not depend on timing.

/// Splits `0..<count` into `workers` blocks whose inner bounds are multiples of 16.
@inline(__always)
func block(_ count: Int, _ worker: Int, _ workers: Int) -> Range<Int> {
    let lo = worker == 0 ? 0 : (count * worker / workers) & ~15
    let hi = worker == workers - 1 ? count : (count * (worker + 1) / workers) & ~15
    return lo..<max(lo, hi)
}

/// Workers worth using for a product of `work` multiply-adds split along a dimension of `extent`.
@inline(__always)
func matmulWorkers(work: Int, extent: Int) -> Int {
    work < 1 << 18 ? 1 : min(HostThreads.count, max(1, extent / 32))
}

/// out (N, OUT) = x (N, IN) · w (OUT, IN)ᵀ.
public func matmulForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                          rows n: Int, inDim k: Int, outDim m: Int) {
    let workers = matmulWorkers(work: n * k * m, extent: m)
    parallelWorkers(workers) { worker in
        let cols = block(m, worker, workers)
        guard !cols.isEmpty else { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(cols.count), Int32(k),
                    1, x, Int32(k), w + cols.lowerBound * k, Int32(k), 0, out + cols.lowerBound, Int32(m))
    }
}

/// dx (N, IN) += dOut (N, OUT) · w (OUT, IN);  dW (OUT, IN) += dOutᵀ (OUT, N) · x (N, IN).
/// dx is split by columns (IN), dW by rows (OUT).
public func matmulBackward(_ dx: UnsafeMutablePointer<Float>, _ dW: UnsafeMutablePointer<Float>,
                           _ dOut: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                           rows n: Int, inDim k: Int, outDim m: Int) {
    matmulBackwardInput(dx, dOut, w, rows: n, inDim: k, outDim: m)
    matmulBackwardWeight(dW, dOut, x, rows: n, inDim: k, outDim: m)
}

/// dx (N, IN) += dOut (N, OUT) · w (OUT, IN).
public func matmulBackwardInput(_ dx: UnsafeMutablePointer<Float>, _ dOut: UnsafePointer<Float>,
                                _ w: UnsafePointer<Float>, rows n: Int, inDim k: Int, outDim m: Int) {
    let workers = matmulWorkers(work: n * k * m, extent: k)
    parallelWorkers(workers) { worker in
        let cols = block(k, worker, workers)
        guard !cols.isEmpty else { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(cols.count), Int32(m),
                    1, dOut, Int32(m), w + cols.lowerBound, Int32(k), 1, dx + cols.lowerBound, Int32(k))
    }
}

/// dW (OUT, IN) += dOutᵀ (OUT, N) · x (N, IN).
public func matmulBackwardWeight(_ dW: UnsafeMutablePointer<Float>, _ dOut: UnsafePointer<Float>,
                                 _ x: UnsafePointer<Float>, rows n: Int, inDim k: Int, outDim m: Int) {
    let workers = matmulWorkers(work: n * k * m, extent: m)
    parallelWorkers(workers) { worker in
        let rows = block(m, worker, workers)
        guard !rows.isEmpty else { return }
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(rows.count), Int32(k), Int32(n),
                    1, dOut + rows.lowerBound, Int32(m), x, Int32(k), 1, dW + rows.lowerBound * k, Int32(k))
    }
}
