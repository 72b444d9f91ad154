import COpenBLAS
import Foundation
import RetortModel

// Causal grouped-query attention over ONE sequence of T tokens (callers loop over the B sequences).
// H query heads share G key/value heads: query head h reads kv head g = h / (H / G).
// q: (T, H·E), already rotated; k, v: (T, G·E), k already rotated; out: (T, H·E).

/// For every head h: probs_h = softmax_causal(q_h · k_gᵀ / √E),  out_h = probs_h · v_g.
/// - probs: (H, T, T) saved for the backward pass; entries above the diagonal are 0.
public func causalAttentionForward(_ out: UnsafeMutablePointer<Float>, _ probs: UnsafeMutablePointer<Float>,
                                   _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ v: UnsafePointer<Float>,
                                   rows t: Int, heads: Int, kvHeads: Int, headDim e: Int) {
    precondition(kvHeads > 0 && heads % kvHeads == 0, "heads \(heads) must be a multiple of kvHeads \(kvHeads)")
    let qWidth = heads * e, kvWidth = kvHeads * e, group = heads / kvHeads
    let scale = 1 / Float(e).squareRoot()
    for h in 0..<heads {
        let g = h / group
        let p = probs + h * t * t
        // p (T, T) = scale · q_h (T, E) · k_g (T, E)ᵀ
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(t), Int32(t), Int32(e),
                    scale, q + h * e, Int32(qWidth), k + g * e, Int32(kvWidth), 0, p, Int32(t))
        for r in 0..<t { softmaxRowForward(p + r * t, valid: r + 1, width: t) }
        // out_h (T, E) = p (T, T) · v_g (T, E)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(t), Int32(e), Int32(t),
                    1, p, Int32(t), v + g * e, Int32(kvWidth), 0, out + h * e, Int32(qWidth))
    }
}

/// Per head h (g = h / (H / G)), with P = probs_h and dO = dOut_h:
///   dP = dO · v_gᵀ;  dS = P ⊙ (dP − rowsum(P ⊙ dP))   (softmax backward; masked entries stay 0)
///   dq_h += dS · k_g / √E;  dk_g += dSᵀ · q_h / √E;  dv_g += Pᵀ · dO
/// dk and dv of a kv head sum over the H / G query heads of its group.
/// - dq: (T, H·E); dk, dv: (T, G·E); dOut: (T, H·E); probs: (H, T, T) from the forward pass;
///   scratch: (T, T) work space, overwritten.
public func causalAttentionBackward(_ dq: UnsafeMutablePointer<Float>, _ dk: UnsafeMutablePointer<Float>,
                                    _ dv: UnsafeMutablePointer<Float>, _ scratch: UnsafeMutablePointer<Float>,
                                    _ dOut: UnsafePointer<Float>, _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>,
                                    _ v: UnsafePointer<Float>, _ probs: UnsafePointer<Float>,
                                    rows t: Int, heads: Int, kvHeads: Int, headDim e: Int) {
    precondition(kvHeads > 0 && heads % kvHeads == 0, "heads \(heads) must be a multiple of kvHeads \(kvHeads)")
    let qWidth = heads * e, kvWidth = kvHeads * e, group = heads / kvHeads
    let scale = 1 / Float(e).squareRoot()
    let ds = scratch
    for h in 0..<heads {
        let g = h / group
        let p = probs + h * t * t
        let dO = dOut + h * e
        // dv_g (T, E) += p (T, T)ᵀ · dO (T, E)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(t), Int32(e), Int32(t),
                    1, p, Int32(t), dO, Int32(qWidth), 1, dv + g * e, Int32(kvWidth))
        // dP (T, T) = dO (T, E) · v_g (T, E)ᵀ, into scratch
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(t), Int32(t), Int32(e),
                    1, dO, Int32(qWidth), v + g * e, Int32(kvWidth), 0, ds, Int32(t))
        // dS = P ⊙ (dP − Σ_j P_j dP_j), row by row, in place
        for r in 0..<t {
            let pr = p + r * t, dr = ds + r * t
            var dot: Float = 0
            for j in 0...r { dot += pr[j] * dr[j] }
            for j in 0..<t { dr[j] = pr[j] * (dr[j] - dot) }
        }
        // dq_h (T, E) += scale · dS (T, T) · k_g (T, E)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(t), Int32(e), Int32(t),
                    scale, ds, Int32(t), k + g * e, Int32(kvWidth), 1, dq + h * e, Int32(qWidth))
        // dk_g (T, E) += scale · dS (T, T)ᵀ · q_h (T, E)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(t), Int32(e), Int32(t),
                    scale, ds, Int32(t), q + h * e, Int32(qWidth), 1, dk + g * e, Int32(kvWidth))
    }
}
