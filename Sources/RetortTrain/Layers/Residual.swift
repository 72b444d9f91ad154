import RetortModel

// Residual connection, element-wise over N·D values (N = B·T rows, D width).

/// out = a + b. `out` may alias `a` or `b`.
public func residualForward(_ out: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                            count: Int) {
    parallelChunks(count, minChunk: 1 << 14) { range in
        for i in range { out[i] = a[i] + b[i] }
    }
}

/// da += dOut;  db += dOut.
public func residualBackward(_ da: UnsafeMutablePointer<Float>, _ db: UnsafeMutablePointer<Float>,
                             _ dOut: UnsafePointer<Float>, count: Int) {
    parallelChunks(count, minChunk: 1 << 14) { range in
        for i in range {
            da[i] += dOut[i]
            db[i] += dOut[i]
        }
    }
}

/// dst += src, element-wise.
public func accumulate(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, count: Int) {
    parallelChunks(count, minChunk: 1 << 14) { range in
        for i in range { dst[i] += src[i] }
    }
}
