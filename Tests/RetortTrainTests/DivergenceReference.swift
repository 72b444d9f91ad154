import Foundation
import RetortTrain

// Plain Double references for the distillation divergences, written from their definitions
// (linear-domain masses, no shared code with the library).

/// log softmax(z / τ) of one row, in Double.
func referenceLogSoftmax(_ z: ArraySlice<Float>, temperature: Float) -> [Double] {
    let s = z.map { Double($0) / Double(temperature) }
    let m = s.max()!
    let lse = m + log(s.map { exp($0 - m) }.reduce(0, +))
    return s.map { $0 - lse }
}

/// D(p, q) between two distributions given as masses (teacher p, student q).
func referenceDivergence(_ p: [Double], _ q: [Double], _ divergence: DistillationDivergence) -> Double {
    precondition(p.count == q.count)
    func kl(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).map { $0 > 0 ? $0 * log($0 / $1) : 0 }.reduce(0, +)
    }
    switch divergence {
    case .forwardKL: return kl(p, q)
    case .reverseKL: return kl(q, p)
    case .jsd(let beta):
        let b = Double(beta)
        let m = zip(p, q).map { b * $0 + (1 - b) * $1 }
        return b * kl(p, m) + (1 - b) * kl(q, m)
    }
}

/// τ² · D(softmax(z_t/τ), softmax(z_s/τ)) of one row.
func referenceFullLoss(student: ArraySlice<Float>, teacher: ArraySlice<Float>, temperature: Float,
                       divergence: DistillationDivergence) -> Double {
    let p = referenceLogSoftmax(teacher, temperature: temperature).map(exp)
    let q = referenceLogSoftmax(student, temperature: temperature).map(exp)
    let tau = Double(temperature)
    return tau * tau * referenceDivergence(p, q, divergence)
}

/// τ² · D over the (K + 1) buckets of one row: teacher (exp(logProbs), rest), student (its softmax at
/// the ids, and the sum over every other token).
func referenceSparseLoss(student: ArraySlice<Float>, ids: ArraySlice<Int32>, logProbs: ArraySlice<Float>, rest: Float,
                         temperature: Float, divergence: DistillationDivergence) -> Double {
    let q = referenceLogSoftmax(student, temperature: temperature).map(exp)
    let top = Set(ids.map(Int.init))
    var p = logProbs.map { exp(Double($0)) }, qb = ids.map { q[Int($0)] }
    if top.count < q.count {
        p.append(Double(max(rest, 0)))
        qb.append(q.indices.filter { !top.contains($0) }.map { q[$0] }.reduce(0, +))
    }
    let tau = Double(temperature)
    return tau * tau * referenceDivergence(p, qb, divergence)
}

/// Worst |a − b| / max(1, |b|) and where, for value comparisons.
func worstRelativeDifference(_ a: [Float], _ b: [Float]) -> (error: Double, index: Int) {
    var worst = (error: 0.0, index: -1)
    for i in a.indices {
        let e = abs(Double(a[i]) - Double(b[i])) / max(1, abs(Double(b[i])))
        if !(e <= worst.error) { worst = (e.isNaN ? .infinity : e, i) }
    }
    return worst
}
