import Foundation
import RetortModel

// Rotary position embedding on adjacent pairs (x[2i], x[2i+1]) — the pairing of GGUF-stored Llama
// Q/K weights, as in RetortModel. N = B·T rows, heads = H (queries) or G (keys), E head width.
// Row r of a batch is position r % T: each of the B sequences starts at position 0.

// The cos/sin table is RetortModel's `ropeTable(positions:headDim:base:)`, shared with the host model.

/// out = R(pos) · x per pair: (a, b) → (a·cos − b·sin, a·sin + b·cos). `out` may alias `x`.
/// - out, x: (N, heads·E); cosSin: (≥ T, E/2, 2).
public func ropeForward(_ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ cosSin: UnsafePointer<Float>,
                        rows n: Int, sequenceLength t: Int, heads: Int, headDim e: Int) {
    let width = heads * e
    parallelChunks(n, minChunk: 16) { rows in for r in rows {
        let table = cosSin + (r % t) * e
        for h in 0..<heads {
            let src = x + r * width + h * e, dst = out + r * width + h * e
            for i in 0..<e / 2 {
                let c = table[2 * i], s = table[2 * i + 1]
                let a = src[2 * i], b = src[2 * i + 1]
                dst[2 * i] = a * c - b * s
                dst[2 * i + 1] = a * s + b * c
            }
        }
    } }
}

/// dx += R(pos)ᵀ · dOut, the inverse rotation: (da, db) → (da·cos + db·sin, −da·sin + db·cos).
/// RoPE is linear, so nothing but the table is saved. dx: (N, heads·E); dOut: (N, heads·E).
public func ropeBackward(_ dx: UnsafeMutablePointer<Float>, _ dOut: UnsafePointer<Float>, _ cosSin: UnsafePointer<Float>,
                         rows n: Int, sequenceLength t: Int, heads: Int, headDim e: Int) {
    let width = heads * e
    parallelChunks(n, minChunk: 16) { rows in for r in rows {
        let table = cosSin + (r % t) * e
        for h in 0..<heads {
            let src = dOut + r * width + h * e, dst = dx + r * width + h * e
            for i in 0..<e / 2 {
                let c = table[2 * i], s = table[2 * i + 1]
                let da = src[2 * i], db = src[2 * i + 1]
                dst[2 * i] += da * c + db * s
                dst[2 * i + 1] += -da * s + db * c
            }
        }
    } }
}
