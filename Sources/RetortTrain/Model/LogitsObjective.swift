import Foundation
import RetortModel
import RetortRuntime

// The logits part of the distillation objective, fused: per row of student logits z (V), teacher
// logits t (V) and label y,
//   loss = (1 − α)·CE(z, y) + α·τ²·KL(softmax(t/τ) ‖ softmax(z/τ))
//   ∂loss/∂z = (1 − α)·(softmax(z) − onehot(y)) + α·τ·(softmax(z/τ) − softmax(t/τ))
// (the per-term derivations are in Losses/CrossEntropy.swift and Losses/DistillationKL.swift;
// this computes the same values, checked against them in the tests).
//
// One pass finds the maxima, one computes the three exponentials with SIMD `expApprox`
// (relative error < 1e-7) into scratch and their sums, one writes the gradient. With
// m = max z, M = max t, S₁ = Σ e^(z−m), S_τ = Σ e^((z−m)/τ), T_τ = Σ e^((t−M)/τ):
//   CE = log S₁ − (z_y − m)
//   KL = Σ p_t·(log p_t − log p_s) = [Σ e^((t−M)/τ)·((t−M) − (z−m))] / (τ·T_τ) − log T_τ + log S_τ

/// Scratch for `fusedDistillationRows`: three rows of V floats per worker.
public final class LogitsScratch: @unchecked Sendable {
    public let workers: Int
    let vocab: Int
    let buffer: FloatBuffer

    public init(vocab: Int, workers: Int = HostThreads.count) {
        self.vocab = vocab
        self.workers = max(1, workers)
        buffer = FloatBuffer(count: 3 * vocab * self.workers)
    }
}

/// Per-row results of the fused objective.
public struct LogitsLoss: Sendable {
    /// Mean CE and mean τ²·KL over the rows (each unweighted by α).
    public var crossEntropy: Double
    public var distillation: Double
    /// (1 − α)·CE + α·τ²·KL.
    public var total: Double
}

/// Loss over N rows and its gradient, `scale`·∂(mean loss)/∂z added into `dLogits`. With
/// `teacher` nil only the CE term is computed (α must then be 0). Rows are split over the
/// engine's workers; allocates nothing.
/// - logits, dLogits: (N, V); labels: (N); teacher: (N, V).
public func fusedDistillationRows(_ dLogits: UnsafeMutablePointer<Float>, _ logits: UnsafePointer<Float>,
                                  labels: UnsafePointer<Int32>, teacher: UnsafePointer<Float>?,
                                  rows n: Int, vocab v: Int, alpha: Float, temperature tau: Float, scale: Float,
                                  scratch: LogitsScratch) -> LogitsLoss {
    precondition(scratch.vocab == v, "scratch for vocabulary \(scratch.vocab), logits have \(v)")
    precondition(tau > 0 && (0...1).contains(alpha), "α in 0...1, τ > 0")
    precondition(teacher != nil || alpha == 0, "α > 0 needs teacher logits")
    let workers = min(scratch.workers, HostThreads.count, max(1, n))
    var sums = [Double](repeating: 0, count: 2 * workers)
    sums.withUnsafeMutableBufferPointer { out in
        let out = out.baseAddress!
        parallelWorkers(workers) { w in
            let s1 = scratch.buffer.pointer + 3 * v * w, sTau = s1 + v, tTau = sTau + v
            var ce = 0.0, kd = 0.0
            for r in (n * w / workers) ..< (n * (w + 1) / workers) {
                let row = fusedRow(dLogits + r * v, logits + r * v, label: Int(labels[r]), teacher: teacher.map { $0 + r * v },
                                   vocab: v, alpha: alpha, tau: tau, scale: scale / Float(n),
                                   e1: s1, eS: sTau, eT: tTau)
                ce += row.ce
                kd += row.kd
            }
            out[2 * w] = ce
            out[2 * w + 1] = kd
        }
    }
    var ce = 0.0, kd = 0.0
    for w in 0..<workers {
        ce += sums[2 * w]
        kd += sums[2 * w + 1]
    }
    ce /= Double(max(n, 1))
    kd /= Double(max(n, 1))
    return LogitsLoss(crossEntropy: ce, distillation: kd, total: Double(1 - alpha) * ce + Double(alpha) * kd)
}

@inline(__always)
func rowMax(_ x: UnsafePointer<Float>, _ v: Int) -> Float {
    var m8 = SIMD8<Float>(repeating: -.infinity)
    var i = 0
    while i + 8 <= v {
        m8 = pointwiseMax(m8, UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self))
        i += 8
    }
    var m = m8.max()
    while i < v { m = max(m, x[i]); i += 1 }
    return m
}

/// One row: returns CE and τ²·KL (unweighted) and adds the weighted, scaled gradient.
@inline(__always)
private func fusedRow(_ dz: UnsafeMutablePointer<Float>, _ z: UnsafePointer<Float>, label y: Int,
                      teacher t: UnsafePointer<Float>?, vocab v: Int, alpha: Float, tau: Float, scale: Float,
                      e1: UnsafeMutablePointer<Float>, eS: UnsafeMutablePointer<Float>,
                      eT: UnsafeMutablePointer<Float>) -> (ce: Double, kd: Double) {
    let m = rowMax(z, v)
    let invTau = 1 / tau
    var sum1 = SIMD8<Float>(), sumS = SIMD8<Float>(), sumT = SIMD8<Float>(), cross = SIMD8<Float>()
    var i = 0
    let mv = SIMD8<Float>(repeating: m)
    if let t {
        let bigM = rowMax(t, v)
        let mt = SIMD8<Float>(repeating: bigM)
        while i + 8 <= v {
            let zc = UnsafeRawPointer(z + i).loadUnaligned(as: SIMD8<Float>.self) - mv
            let tc = UnsafeRawPointer(t + i).loadUnaligned(as: SIMD8<Float>.self) - mt
            let a = expApprox(zc), b = expApprox(zc * invTau), c = expApprox(tc * invTau)
            UnsafeMutableRawPointer(e1 + i).storeBytes(of: a, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(eS + i).storeBytes(of: b, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(eT + i).storeBytes(of: c, as: SIMD8<Float>.self)
            sum1 += a
            sumS += b
            sumT += c
            cross += c * (tc - zc)
            i += 8
        }
        var s1 = Double(sum1.sum()), sS = Double(sumS.sum()), sT = Double(sumT.sum()), cr = Double(cross.sum())
        while i < v {
            let zc = z[i] - m, tc = t[i] - bigM
            e1[i] = expApprox(zc); eS[i] = expApprox(zc * invTau); eT[i] = expApprox(tc * invTau)
            s1 += Double(e1[i]); sS += Double(eS[i]); sT += Double(eT[i]); cr += Double(eT[i] * (tc - zc))
            i += 1
        }
        let ce = log(s1) - Double(z[y] - m)
        let kl = max(0, cr / (Double(tau) * sT) - log(sT) + log(sS))
        // Gradient.
        let k1 = SIMD8<Float>(repeating: scale * (1 - alpha) / Float(s1))
        let kS = SIMD8<Float>(repeating: scale * alpha * tau / Float(sS))
        let kT = SIMD8<Float>(repeating: scale * alpha * tau / Float(sT))
        i = 0
        while i + 8 <= v {
            let g = k1 * UnsafeRawPointer(e1 + i).loadUnaligned(as: SIMD8<Float>.self)
                + kS * UnsafeRawPointer(eS + i).loadUnaligned(as: SIMD8<Float>.self)
                - kT * UnsafeRawPointer(eT + i).loadUnaligned(as: SIMD8<Float>.self)
            let d = UnsafeMutableRawPointer(dz + i)
            d.storeBytes(of: d.loadUnaligned(as: SIMD8<Float>.self) + g, as: SIMD8<Float>.self)
            i += 8
        }
        while i < v {
            dz[i] += k1[0] * e1[i] + kS[0] * eS[i] - kT[0] * eT[i]
            i += 1
        }
        dz[y] -= scale * (1 - alpha)
        return (ce, Double(tau * tau) * kl)
    }
    while i + 8 <= v {
        let a = expApprox(UnsafeRawPointer(z + i).loadUnaligned(as: SIMD8<Float>.self) - mv)
        UnsafeMutableRawPointer(e1 + i).storeBytes(of: a, as: SIMD8<Float>.self)
        sum1 += a
        i += 8
    }
    var s1 = Double(sum1.sum())
    while i < v { e1[i] = expApprox(z[i] - m); s1 += Double(e1[i]); i += 1 }
    let k1 = SIMD8<Float>(repeating: scale * (1 - alpha) / Float(s1))
    i = 0
    while i + 8 <= v {
        let d = UnsafeMutableRawPointer(dz + i)
        d.storeBytes(of: d.loadUnaligned(as: SIMD8<Float>.self) + k1 * UnsafeRawPointer(e1 + i).loadUnaligned(as: SIMD8<Float>.self),
                     as: SIMD8<Float>.self)
        i += 8
    }
    while i < v { dz[i] += k1[0] * e1[i]; i += 1 }
    dz[y] -= scale * (1 - alpha)
    return (log(s1) - Double(z[y] - m), 0)
}

// MARK: - Sparse teacher

// The same mix against a sparse teacher (Losses/SparseDistillation.swift): per row the teacher's
// top-K ids, their log-probabilities at τ (already tempered) and the rest mass r. Forward KL over
// the K + 1 buckets, with P = Σ_i p_i + r and the student's bucket masses q_i = p_s,τ(id_i),
// q_K = Σ_{j ∉ ids} p_s,τ(j):
//   KL = Σ_i p_i (log p_i − log q_i) + r (log r − log q_K)
//   ∂(τ²·KL)/∂z_j = τ·(P·p_s,j − p_i)               for j = id_i
//                 = τ·p_s,j·(P − r / q_K)           for j outside the top K
// q_K is summed over the rest tokens themselves (never 1 − Σ q_i), as in the reference.

/// Loss over N rows against a sparse teacher and its gradient, `scale`·∂(mean loss)/∂z added into
/// `dLogits`. ids, logProbs: (N, K); rest: (N); logProbs and rest at temperature τ.
public func fusedSparseDistillationRows(_ dLogits: UnsafeMutablePointer<Float>, _ logits: UnsafePointer<Float>,
                                        labels: UnsafePointer<Int32>, ids: UnsafePointer<Int32>,
                                        logProbs: UnsafePointer<Float>, rest: UnsafePointer<Float>, topK k: Int,
                                        rows n: Int, vocab v: Int, alpha: Float, temperature tau: Float, scale: Float,
                                        scratch: LogitsScratch) -> LogitsLoss {
    precondition(scratch.vocab == v, "scratch for vocabulary \(scratch.vocab), logits have \(v)")
    precondition(tau > 0 && (0...1).contains(alpha) && k >= 1 && k < v, "α in 0...1, τ > 0, K in 1..<V")
    let workers = min(scratch.workers, HostThreads.count, max(1, n))
    var sums = [Double](repeating: 0, count: 2 * workers)
    sums.withUnsafeMutableBufferPointer { out in
        let out = out.baseAddress!
        parallelWorkers(workers) { w in
            let e1 = scratch.buffer.pointer + 3 * v * w, eS = e1 + v, saved = eS + v
            var ce = 0.0, kd = 0.0
            for r in (n * w / workers) ..< (n * (w + 1) / workers) {
                let row = sparseRow(dLogits + r * v, logits + r * v, label: Int(labels[r]), ids: ids + r * k,
                                    logProbs: logProbs + r * k, rest: rest[r], topK: k, vocab: v, alpha: alpha,
                                    tau: tau, scale: scale / Float(n), e1: e1, eS: eS, saved: saved)
                ce += row.ce
                kd += row.kd
            }
            out[2 * w] = ce
            out[2 * w + 1] = kd
        }
    }
    var ce = 0.0, kd = 0.0
    for w in 0..<workers {
        ce += sums[2 * w]
        kd += sums[2 * w + 1]
    }
    ce /= Double(max(n, 1))
    kd /= Double(max(n, 1))
    return LogitsLoss(crossEntropy: ce, distillation: kd, total: Double(1 - alpha) * ce + Double(alpha) * kd)
}

/// Σ x over `count` floats: SIMD8 partial sums in blocks of 512, blocks added in Double.
@inline(__always)
private func blockSum(_ x: UnsafePointer<Float>, _ count: Int) -> Double {
    var total = 0.0, i = 0
    while i < count {
        let end = min(count, i + 512)
        var s = SIMD8<Float>()
        while i + 8 <= end {
            s += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var tail: Float = 0
        while i < end { tail += x[i]; i += 1 }
        total += Double(s.sum()) + Double(tail)
    }
    return total
}

@inline(__always)
private func sparseRow(_ dz: UnsafeMutablePointer<Float>, _ z: UnsafePointer<Float>, label y: Int,
                       ids: UnsafePointer<Int32>, logProbs: UnsafePointer<Float>, rest r: Float, topK k: Int,
                       vocab v: Int, alpha: Float, tau: Float, scale: Float,
                       e1: UnsafeMutablePointer<Float>, eS: UnsafeMutablePointer<Float>,
                       saved: UnsafeMutablePointer<Float>) -> (ce: Double, kd: Double) {
    let m = rowMax(z, v), invTau = 1 / tau
    let mv = SIMD8<Float>(repeating: m)
    var i = 0
    while i + 8 <= v {
        let zc = UnsafeRawPointer(z + i).loadUnaligned(as: SIMD8<Float>.self) - mv
        UnsafeMutableRawPointer(e1 + i).storeBytes(of: expApprox(zc), as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(eS + i).storeBytes(of: expApprox(zc * invTau), as: SIMD8<Float>.self)
        i += 8
    }
    while i < v {
        e1[i] = expApprox(z[i] - m)
        eS[i] = expApprox((z[i] - m) * invTau)
        i += 1
    }
    let s1 = blockSum(e1, v), sTau = blockSum(eS, v)
    // Take the top ids out of eS (kept in `saved`), so what remains sums to the rest bucket.
    var teacherTop = 0.0, kl = 0.0
    for j in 0..<k {
        let id = Int(ids[j])
        saved[j] = eS[id]
        eS[id] = 0
    }
    let restSum = max(blockSum(eS, v), Double.leastNormalMagnitude)
    let logSTau = log(sTau)
    for j in 0..<k {
        let lp = Double(logProbs[j])
        let p = exp(lp)
        teacherTop += p
        if p > 0 { kl += p * (lp - (log(max(Double(saved[j]), Double.leastNormalMagnitude)) - logSTau)) }
    }
    let restMass = Double(max(r, 0))
    if restMass > 0 { kl += restMass * (log(restMass) - (log(restSum) - logSTau)) }
    let bigP = teacherTop + restMass
    // Gradient: every token gets k1·e1 + kRest·eS (top tokens have eS = 0 here), then the top fix-ups.
    let c = Double(scale * alpha * tau)
    let k1 = SIMD8<Float>(repeating: scale * (1 - alpha) / Float(s1))
    let kRest = SIMD8<Float>(repeating: Float(c * (bigP / sTau - restMass / restSum)))
    i = 0
    while i + 8 <= v {
        let g = k1 * UnsafeRawPointer(e1 + i).loadUnaligned(as: SIMD8<Float>.self)
            + kRest * UnsafeRawPointer(eS + i).loadUnaligned(as: SIMD8<Float>.self)
        let d = UnsafeMutableRawPointer(dz + i)
        d.storeBytes(of: d.loadUnaligned(as: SIMD8<Float>.self) + g, as: SIMD8<Float>.self)
        i += 8
    }
    while i < v { dz[i] += k1[0] * e1[i] + kRest[0] * eS[i]; i += 1 }
    for j in 0..<k {
        let id = Int(ids[j])
        dz[id] += Float(c * (bigP * Double(saved[j]) / sTau - exp(Double(logProbs[j]))))
    }
    dz[y] -= scale * (1 - alpha)
    return (log(s1) - Double(z[y] - m), Double(tau * tau) * max(0, kl))
}
