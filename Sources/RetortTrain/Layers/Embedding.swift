import RetortModel

// Token embedding lookup. N = B·T rows, D width, V vocabulary.

/// out[r, :] = table[tokens[r], :].
/// - out: (N, D); tokens: (N), each in 0..<V; table: (V, D).
public func embeddingForward(_ out: UnsafeMutablePointer<Float>, _ tokens: UnsafePointer<Int32>,
                             _ table: UnsafePointer<Float>, rows n: Int, dim d: Int) {
    parallelChunks(n, minChunk: 64) { rows in
        for r in rows { (out + r * d).update(from: table + Int(tokens[r]) * d, count: d) }
    }
}

/// dTable[tokens[r], :] += dOut[r, :] (scatter-add: repeated tokens sum their rows). Workers split
/// the D columns, so repeated tokens never race and the summation order is fixed.
/// - dTable: (V, D); dOut: (N, D); tokens: (N).
public func embeddingBackward(_ dTable: UnsafeMutablePointer<Float>, _ dOut: UnsafePointer<Float>,
                              _ tokens: UnsafePointer<Int32>, rows n: Int, dim d: Int) {
    parallelChunks(d, minChunk: n >= 64 ? 32 : d) { cols in
        for r in 0..<n {
            let dst = dTable + Int(tokens[r]) * d, src = dOut + r * d
            for i in cols { dst[i] += src[i] }
        }
    }
}
