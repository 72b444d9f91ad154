import COpenBLAS

// Bias-free linear layer on OpenBLAS. N = B·T rows, IN / OUT the layer's widths.
// Weights are row-major (OUT, IN), as in `LlamaWeights`.

/// out (N, OUT) = x (N, IN) · w (OUT, IN)ᵀ.
public func matmulForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                          rows n: Int, inDim k: Int, outDim m: Int) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(m), Int32(k),
                1, x, Int32(k), w, Int32(k), 0, out, Int32(m))
}

/// dx (N, IN) += dOut (N, OUT) · w (OUT, IN);  dW (OUT, IN) += dOutᵀ (OUT, N) · x (N, IN).
public func matmulBackward(_ dx: UnsafeMutablePointer<Float>, _ dW: UnsafeMutablePointer<Float>,
                           _ dOut: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                           rows n: Int, inDim k: Int, outDim m: Int) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(k), Int32(m),
                1, dOut, Int32(m), w, Int32(k), 1, dx, Int32(k))
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(m), Int32(k), Int32(n),
                1, dOut, Int32(m), x, Int32(k), 1, dW, Int32(k))
}
