import COpenBLAS
import Foundation
import RetortModel

// Causal grouped-query attention over B sequences of T tokens each (rows s·T ..< (s+1)·T are
// sequence s). H query heads share G key/value heads: query head h reads kv head g = h / (H / G).
// q: (B·T, H·E), already rotated; k, v: (B·T, G·E), k already rotated; out: (B·T, H·E).
//
// Threads: one task per (sequence, kv head) — a task owns the query heads of its group, so the
// dk/dv sums over a group stay inside one task and no two tasks write the same element.

/// For every sequence and head h: probs_h = softmax_causal(q_h · k_gᵀ / √E),  out_h = probs_h · v_g.
/// - probs: (B, H, T, T) saved for the backward pass; entries above the diagonal are 0.
public func causalAttentionForward(_ out: UnsafeMutablePointer<Float>, _ probs: UnsafeMutablePointer<Float>,
                                   _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>,
                                   batch b: Int = 1, rows t: Int, heads: Int, kvHeads: Int, headDim e: Int) {
    precondition(kvHeads > 0 && heads % kvHeads == 0, "heads \(heads) must be a multiple of kvHeads \(kvHeads)")
    let qWidth = heads * e, kvWidth = kvHeads * e, group = heads / kvHeads
    let scale = 1 / Float(e).squareRoot()
    parallelChunks(b * kvHeads) { tasks in
        for task in tasks {
            let s = task / kvHeads, g = task % kvHeads
            let qs = q + s * t * qWidth, ks = k + s * t * kvWidth + g * e, vs = v + s * t * kvWidth + g * e
            for h in g * group ..< (g + 1) * group {
                let p = probs + (s * heads + h) * t * t
                // p (T, T) = scale · q_h (T, E) · k_g (T, E)ᵀ
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(t), Int32(t), Int32(e),
                            scale, qs + h * e, Int32(qWidth), ks, Int32(kvWidth), 0, p, Int32(t))
                for r in 0..<t { softmaxRowForward(p + r * t, valid: r + 1, width: t) }
                // out_h (T, E) = p (T, T) · v_g (T, E)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(t), Int32(e), Int32(t),
                            1, p, Int32(t), vs, Int32(kvWidth), 0, out + s * t * qWidth + h * e, Int32(qWidth))
            }
        }
    }
}

/// Per sequence and head h (g = h / (H / G)), with P = probs_h and dO = dOut_h:
///   dP = dO · v_gᵀ;  dS = P ⊙ (dP − rowsum(P ⊙ dP))   (softmax backward; masked entries stay 0)
///   dq_h += dS · k_g / √E;  dk_g += dSᵀ · q_h / √E;  dv_g += Pᵀ · dO
/// dk and dv of a kv head sum over the H / G query heads of its group.
/// - dq: (B·T, H·E); dk, dv: (B·T, G·E); dOut: (B·T, H·E); probs: (B, H, T, T) from the forward
///   pass; scratch: (B, G, T, T) work space, overwritten.
public func causalAttentionBackward(_ dq: UnsafeMutablePointer<Float>, _ dk: UnsafeMutablePointer<Float>,
                                    _ dv: UnsafeMutablePointer<Float>, _ scratch: UnsafeMutablePointer<Float>,
                                    _ dOut: UnsafePointer<Float>, _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>,
                                    _ v: UnsafePointer<Float>, _ probs: UnsafePointer<Float>,
                                    batch b: Int = 1, rows t: Int, heads: Int, kvHeads: Int, headDim e: Int) {
    precondition(kvHeads > 0 && heads % kvHeads == 0, "heads \(heads) must be a multiple of kvHeads \(kvHeads)")
    let qWidth = heads * e, kvWidth = kvHeads * e, group = heads / kvHeads
    let scale = 1 / Float(e).squareRoot()
    parallelChunks(b * kvHeads) { tasks in
        for task in tasks {
            let s = task / kvHeads, g = task % kvHeads
            let ds = scratch + task * t * t
            let qs = q + s * t * qWidth, dqs = dq + s * t * qWidth
            let ks = k + s * t * kvWidth + g * e, dks = dk + s * t * kvWidth + g * e
            let vs = v + s * t * kvWidth + g * e, dvs = dv + s * t * kvWidth + g * e
            for h in g * group ..< (g + 1) * group {
                let p = probs + (s * heads + h) * t * t
                let dO = dOut + s * t * qWidth + h * e
                // dv_g (T, E) += p (T, T)ᵀ · dO (T, E)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(t), Int32(e), Int32(t),
                            1, p, Int32(t), dO, Int32(qWidth), 1, dvs, Int32(kvWidth))
                // dP (T, T) = dO (T, E) · v_g (T, E)ᵀ, into scratch
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(t), Int32(t), Int32(e),
                            1, dO, Int32(qWidth), vs, Int32(kvWidth), 0, ds, Int32(t))
                // dS = P ⊙ (dP − Σ_j P_j dP_j), row by row, in place; masked entries are 0
                for r in 0..<t {
                    let pr = p + r * t, dr = ds + r * t
                    var dot: Float = 0
                    for j in 0...r { dot += pr[j] * dr[j] }
                    for j in 0...r { dr[j] = pr[j] * (dr[j] - dot) }
                    for j in (r + 1) ..< t { dr[j] = 0 }
                }
                // dq_h (T, E) += scale · dS (T, T) · k_g (T, E)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(t), Int32(e), Int32(t),
                            scale, ds, Int32(t), ks, Int32(kvWidth), 1, dqs + h * e, Int32(qWidth))
                // dk_g (T, E) += scale · dS (T, T)ᵀ · q_h (T, E)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(t), Int32(e), Int32(t),
                            scale, ds, Int32(t), qs + h * e, Int32(qWidth), 1, dks, Int32(kvWidth))
            }
        }
    }
}
