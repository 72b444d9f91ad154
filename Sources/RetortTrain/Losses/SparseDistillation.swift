import Foundation
import RetortModel
import RetortRuntime

// Distillation from a sparse teacher: per position, the teacher's top-K token ids, their
// log-probabilities at temperature τ, and the remaining mass r = 1 − Σ_top p_t. N = B·T positions,
// V vocabulary, K ids per position (1 ≤ K ≤ V).
//   student: (N, V) logits;  ids: (N, K) Int32, distinct within a row;  logProbs: (N, K);  rest: (N).
//
// The loss compares the two (K + 1)-bucket coarse distributions: bucket i < K is token ids[i],
// bucket K ("rest") is every other token.
//   teacher:  p_i = exp(logProbs[i]),  p_K = r
//   student:  q_i = p_s,τ(ids[i]),      q_K = Σ_{j ∉ ids} p_s,τ(j)     (p_s,τ = softmax(z_s / τ))
//   loss = τ² · D(p, q),  D as in Divergence.swift; for forward KL
//        = τ² · [Σ_i p_i (log p_i − log q_i) + r (log r − log q_K)].
// With K = V (or any K when r = 0 and the student's rest mass is negligible) this is the full-
// vocabulary loss. By the data-processing inequality it is ≤ the full-vocabulary divergence from the same teacher: the
// teacher's shape inside the rest bucket is unknown, so only the bucket's total is matched.
// The gradient is Divergence.swift's bucket formula: a top token j = ids[i] gets
// τ (h_i − p_s,j H); a rest token gets τ ((p_s,j / q_K) h_K − p_s,j H). For forward KL, with
// P = Σ_i p_i + r (1 up to rounding), that is τ (P p_s,j − p_i) on top tokens and
// τ (P p_s,j − r · p_s,j / q_K) on the rest: the teacher's rest mass is spread over the rest
// tokens in the student's own proportions.
//
// Numerics: q_K is summed directly over the rest tokens (a bit mask marks the top ids), never as
// 1 − Σ q_i, so it keeps full relative precision however small it is; it is floored at the
// smallest normal Double, so log q_K stays finite. r is used as given, clamped at 0; r = 0 makes the
// rest term 0 (0 · log 0 = 0) in loss and gradient. When K = V the rest bucket is empty and r is
// ignored. Teacher masses are not renormalized: the loss is exactly D of the given numbers.
//
// Temperature of the stored teacher. A teacher cache stores log-probabilities at τ = 1 (the teacher's
// own distribution, also what perplexity and agreement metrics need) and converts them with
// `temperSparseTeacher`, which is exact on the top K and approximates the rest bucket (see there).
// At τ = 1 nothing is approximated. A cache built for one fixed training τ can instead store
// `sparseTeacherFromLogits(..., temperature: τ)` directly, which is exact at that τ.

/// losses[r] = τ² · D(teacher buckets ‖ student buckets) at position r (header). Returns the mean over
/// the N positions. Nothing is saved; the backward pass recomputes the student's softmax.
/// - losses: (N).
@discardableResult
public func sparseDistillationForward(_ losses: UnsafeMutablePointer<Float>, _ student: UnsafePointer<Float>,
                                      _ ids: UnsafePointer<Int32>, _ logProbs: UnsafePointer<Float>,
                                      _ rest: UnsafePointer<Float>, rows n: Int, vocab v: Int, topK k: Int,
                                      temperature: Float, divergence: DistillationDivergence = .forwardKL) -> Float {
    precondition(temperature > 0, "temperature must be positive")
    precondition(k >= 1 && k <= v, "topK must be in 1...vocab")
    divergence.validate()
    let tau = Double(temperature)
    var total: Double = 0
    withTokenMask(vocab: v) { mask in
        for r in 0..<n {
            let rowIds = ids + r * k, rowLogProbs = logProbs + r * k
            let row = SparseStudentRow(student + r * v, rowIds, count: v, topK: k, inverseTemperature: 1 / tau, mask: mask)
            var d: Double = 0
            for i in 0..<k {
                d += divergenceTerms(divergence, teacherLogMass: Double(rowLogProbs[i]),
                                     studentLogMass: row.logMass(ofTop: i)).loss
            }
            if k < v {
                d += divergenceTerms(divergence, teacherLogMass: logRestMass(rest[r]), studentLogMass: row.logRestMass).loss
            }
            let loss = tau * tau * max(d, 0)
            losses[r] = Float(loss)
            total += loss
        }
    }
    return n > 0 ? Float(total / Double(n)) : 0
}

/// dStudent[r, j] += scale · τ · (h_b(j) · p_s,j / q_b(j) − p_s,j · Σ_b h_b) (header).
/// `scale` is ∂objective/∂losses[r]: 1/N for the mean returned by `sparseDistillationForward`.
/// - dStudent: (N, V).
public func sparseDistillationBackward(_ dStudent: UnsafeMutablePointer<Float>, _ student: UnsafePointer<Float>,
                                       _ ids: UnsafePointer<Int32>, _ logProbs: UnsafePointer<Float>,
                                       _ rest: UnsafePointer<Float>, rows n: Int, vocab v: Int, topK k: Int,
                                       temperature: Float, divergence: DistillationDivergence = .forwardKL,
                                       scale: Float) {
    precondition(temperature > 0, "temperature must be positive")
    precondition(k >= 1 && k <= v, "topK must be in 1...vocab")
    divergence.validate()
    let inv = 1 / Double(temperature), c = Double(scale) * Double(temperature)
    withTokenMask(vocab: v) { mask in
        for r in 0..<n {
            let zs = student + r * v, dz = dStudent + r * v
            let rowIds = ids + r * k, rowLogProbs = logProbs + r * k
            let row = SparseStudentRow(zs, rowIds, count: v, topK: k, inverseTemperature: inv, mask: mask)
            var hSum: Double = 0
            for i in 0..<k {
                hSum += divergenceTerms(divergence, teacherLogMass: Double(rowLogProbs[i]),
                                        studentLogMass: row.logMass(ofTop: i)).h
            }
            // Rest tokens: p_s,j / q_K · h_K = e_j · (h_K / restSum), e_j = exp(z_j/τ − shift).
            var restFactor: Double = 0
            if k < v {
                let hRest = divergenceTerms(divergence, teacherLogMass: logRestMass(rest[r]),
                                            studentLogMass: row.logRestMass).h
                hSum += hRest
                restFactor = hRest / row.restSum
            }
            for i in 0..<k { mask.set(Int(rowIds[i])) }
            let invAll = 1 / row.allSum
            for j in 0..<v {
                let e = exp(Double(zs[j]) * inv - row.shift)
                let own = mask.contains(j) ? 0 : e * restFactor
                dz[j] += Float(c * (own - e * invAll * hSum))
            }
            for i in 0..<k {
                let h = divergenceTerms(divergence, teacherLogMass: Double(rowLogProbs[i]),
                                        studentLogMass: row.logMass(ofTop: i)).h
                dz[Int(rowIds[i])] += Float(c * h)
            }
            for i in 0..<k { mask.clear(Int(rowIds[i])) }
        }
    }
}

// MARK: Teacher conversions

/// Converts a sparse teacher at τ = 1 (log-probs of the top K, rest mass r₁) to temperature τ:
/// p_τ ∝ p₁^(1/τ). The top K are exact: weight w_i = exp(logProbs[i] / τ). The rest bucket's tempered
/// weight Σ_{j ∉ top} p₁,j^(1/τ) depends on how r₁ is spread, which the cache does not keep; it is
/// taken as spread evenly over the V − K other tokens, w_K = (V − K) · (r₁ / (V − K))^(1/τ). That is
/// exact when the rest is flat, and (x^(1/τ) being concave for τ > 1, convex for τ < 1) an upper
/// bound on the rest weight for τ > 1 and a lower bound for τ < 1. Out: logProbsOut[i] =
/// logProbs[i]/τ − log Z, restOut = w_K / Z, Z = Σ_i w_i + w_K (in Double). At τ = 1 the top K
/// log-probs and the rest come back renormalized to total mass 1. Out may alias in.
/// - logProbsOut, logProbs: (N, K);  restOut, rest: (N).
public func temperSparseTeacher(_ logProbsOut: UnsafeMutablePointer<Float>, _ restOut: UnsafeMutablePointer<Float>,
                                _ logProbs: UnsafePointer<Float>, _ rest: UnsafePointer<Float>,
                                rows n: Int, vocab v: Int, topK k: Int, temperature: Float) {
    precondition(temperature > 0, "temperature must be positive")
    precondition(k >= 1 && k <= v, "topK must be in 1...vocab")
    let inv = 1 / Double(temperature)
    for r in 0..<n {
        let lpIn = logProbs + r * k, lpOut = logProbsOut + r * k
        // Log of the rest weight; −∞ when nothing is left.
        let others = Double(v - k), r1 = Double(rest[r])
        let logRestWeight = (k < v && r1 > 0) ? log(others) + (log(r1) - log(others)) * inv : -Double.infinity
        var m = logRestWeight
        for i in 0..<k { m = max(m, Double(lpIn[i]) * inv) }
        var z = logRestWeight == -.infinity ? 0 : exp(logRestWeight - m)
        for i in 0..<k { z += exp(Double(lpIn[i]) * inv - m) }
        let logZ = m + log(z)
        restOut[r] = logRestWeight == -.infinity ? 0 : Float(exp(logRestWeight - logZ))
        for i in 0..<k { lpOut[i] = Float(Double(lpIn[i]) * inv - logZ) }
    }
}

/// The sparse teacher of full logits at temperature τ: per row the K largest logits' ids (largest
/// first, ties to the lower id), their log-softmax(z / τ) and the rest mass, summed over the rest
/// tokens themselves (so a tiny rest keeps its relative precision). Builds a teacher cache entry and
/// the tests' references. Rows run in parallel; the selection skips eight logits at a time while
/// none beats the K-th best so far, and one SIMD pass of `expApprox` (Float blocks of 512 added in
/// Double) gives the normaliser and the rest together: about two passes over a row's logits.
/// - ids, logProbs: (N, K);  rest: (N);  logits: (N, V).
public func sparseTeacherFromLogits(_ ids: UnsafeMutablePointer<Int32>, _ logProbs: UnsafeMutablePointer<Float>,
                                    _ rest: UnsafeMutablePointer<Float>, _ logits: UnsafePointer<Float>,
                                    rows n: Int, vocab v: Int, topK k: Int, temperature: Float) {
    precondition(temperature > 0, "temperature must be positive")
    precondition(k >= 1 && k <= v, "topK must be in 1...vocab")
    let inv = 1 / Double(temperature)
    parallelChunks(n, minChunk: 8) { rows in
        for r in rows {
            let z = logits + r * v, rowIds = ids + r * k
            selectTopK(rowIds, z, vocab: v, topK: k)
            let kth = z[Int(rowIds[k - 1])]
            var kthInTop = 0
            for i in 0..<k where z[Int(rowIds[i])] == kth { kthInTop += 1 }
            let (lse, restMass) = normaliser(z, count: v, inverseTemperature: inv, kth: kth, kthInTop: kthInTop)
            for i in 0..<k { logProbs[r * k + i] = Float(Double(z[Int(rowIds[i])]) * inv - lse) }
            rest[r] = Float(restMass)
        }
    }
}

/// ids = the K largest of z (V), largest first; ties to the lower id; a NaN is never preferred.
/// Insertion into a descending list; once K are held, eight logits at a time are skipped while
/// none exceeds the K-th.
@inline(__always)
private func selectTopK(_ ids: UnsafeMutablePointer<Int32>, _ z: UnsafePointer<Float>, vocab v: Int, topK k: Int) {
    var count = 0, j = 0
    var kth = -Float.infinity  // z[ids[k − 1]] once count == k
    while j < v {
        if count == k {
            while j + 8 <= v {
                let x = UnsafeRawPointer(z + j).loadUnaligned(as: SIMD8<Float>.self)
                if any(x .> SIMD8(repeating: kth)) { break }
                j += 8
            }
            guard j < v else { break }
            if !(z[j] > kth) { j += 1; continue }
        }
        let zj = z[j]
        var slot = min(count, k - 1)
        while slot > 0 && zj > z[Int(ids[slot - 1])] {
            ids[slot] = ids[slot - 1]
            slot -= 1
        }
        ids[slot] = Int32(j)
        count = min(count + 1, k)
        if count == k { kth = z[Int(ids[k - 1])] }
        j += 1
    }
}

/// (log Σ_j exp(z_j · inv), the mass of the tokens outside the top K) for one row. The top K are
/// every z_j > kth and `kthInTop` of the tokens equal to kth, so the rest is Σ_{z_j < kth} plus the
/// other ties. Terms are SIMD `expApprox`((z − max)·inv), summed in Float blocks of 512 added in
/// Double; each is within a few Float ulps of exp.
@inline(__always)
private func normaliser(_ z: UnsafePointer<Float>, count v: Int, inverseTemperature inv: Double,
                        kth: Float, kthInTop: Int) -> (logSum: Double, rest: Double) {
    let m = rowMax(z, v)
    let invF = Float(inv), m8 = SIMD8<Float>(repeating: m), kth8 = SIMD8<Float>(repeating: kth)
    var total = 0.0, below = 0.0, ties = 0, i = 0
    while i < v {
        let end = min(v, i + 512)
        var s = SIMD8<Float>(), b = SIMD8<Float>(), t = SIMD8<Int32>()
        while i + 8 <= end {
            let x = UnsafeRawPointer(z + i).loadUnaligned(as: SIMD8<Float>.self)
            let e = expApprox((x - m8) * invF)
            s += e
            b += e.replacing(with: 0, where: .!(x .< kth8))
            t &+= SIMD8<Int32>(repeating: 0).replacing(with: 1, where: x .== kth8)
            i += 8
        }
        var sTail = 0.0, bTail = 0.0
        while i < end {
            let e = exp(Double(z[i] - m) * inv)
            sTail += e
            if z[i] < kth { bTail += e } else if z[i] == kth { ties += 1 }
            i += 1
        }
        total += Double(s.sum()) + sTail
        below += Double(b.sum()) + bTail
        ties += Int(t.wrappedSum())
    }
    let otherTies = Double(ties - kthInTop) * exp(Double(kth - m) * inv)
    return (Double(m) * inv + log(total), max(0, below + otherTies) / total)
}

// MARK: Validation

/// A sparse teacher entry that the losses cannot use.
public enum SparseTeacherError: Error, Equatable, CustomStringConvertible {
    case idOutOfRange(row: Int, slot: Int, id: Int32, vocab: Int)
    case duplicateId(row: Int, slot: Int, id: Int32)
    case badLogProb(row: Int, slot: Int, value: Float)
    case badRest(row: Int, value: Float)
    case massMismatch(row: Int, total: Double)

    public var description: String {
        switch self {
        case let .idOutOfRange(row, slot, id, vocab): "row \(row) ids[\(slot)] = \(id) is outside 0..<\(vocab)"
        case let .duplicateId(row, slot, id): "row \(row) ids[\(slot)] = \(id) appears twice"
        case let .badLogProb(row, slot, value): "row \(row) logProbs[\(slot)] = \(value) is not a log-probability (≤ 0)"
        case let .badRest(row, value): "row \(row) rest = \(value) is not a probability mass in 0...1"
        case let .massMismatch(row, total): "row \(row): top-K mass + rest = \(total), not 1"
        }
    }
}

/// Checks what the sparse losses assume: ids in 0..<V and distinct per row, log-probs finite or −∞
/// and ≤ 0, rest in 0...1, and Σ exp(logProbs) + rest within `massTolerance` of 1.
public func validateSparseTeacher(_ ids: UnsafePointer<Int32>, _ logProbs: UnsafePointer<Float>,
                                  _ rest: UnsafePointer<Float>, rows n: Int, vocab v: Int, topK k: Int,
                                  massTolerance: Double = 1e-3) throws(SparseTeacherError) {
    var failure: SparseTeacherError?
    withTokenMask(vocab: v) { mask in
        rows: for r in 0..<n {
            var mass = Double(rest[r])
            if !(rest[r] >= 0 && rest[r] <= 1) { failure = .badRest(row: r, value: rest[r]); break }
            for i in 0..<k {
                let id = ids[r * k + i], lp = logProbs[r * k + i]
                if id < 0 || Int(id) >= v { failure = .idOutOfRange(row: r, slot: i, id: id, vocab: v); break rows }
                if mask.contains(Int(id)) { failure = .duplicateId(row: r, slot: i, id: id); break rows }
                mask.set(Int(id))
                if !(lp <= 0) { failure = .badLogProb(row: r, slot: i, value: lp); break rows }
                mass += exp(Double(lp))
            }
            for i in 0..<k { mask.clear(Int(ids[r * k + i])) }
            if !(abs(mass - 1) <= massTolerance) { failure = .massMismatch(row: r, total: mass); break }
        }
    }
    if let failure { throw failure }
}

// MARK: Row pieces

/// log r for a teacher rest mass, −∞ for r ≤ 0 (or NaN).
@inline(__always)
func logRestMass(_ r: Float) -> Double { r > 0 ? log(Double(r)) : -.infinity }

/// The student's softmax over one row, split into the top-K buckets and the rest.
struct SparseStudentRow {
    let z: UnsafePointer<Float>, ids: UnsafePointer<Int32>, inv: Double
    /// Max of z / τ: every exponential is exp(z_j / τ − shift).
    let shift: Double
    /// Σ_j exp(z_j / τ − shift) over all tokens, and over the rest tokens only (floored, > 0).
    let allSum: Double, restSum: Double
    /// log allSum, and log q_K = log(restSum / allSum).
    let logAllSum: Double, logRestMass: Double

    init(_ z: UnsafePointer<Float>, _ ids: UnsafePointer<Int32>, count v: Int, topK k: Int,
         inverseTemperature inv: Double, mask: TokenMask) {
        self.z = z
        self.ids = ids
        self.inv = inv
        for i in 0..<k {
            let id = Int(ids[i])
            precondition(id >= 0 && id < v, "sparse teacher id \(id) outside 0..<\(v)")
            precondition(!mask.contains(id), "sparse teacher id \(id) appears twice in a row")
            mask.set(id)
        }
        var maxValue = -Float.infinity
        for j in 0..<v { maxValue = max(maxValue, z[j]) }
        shift = Double(maxValue) * inv
        var all: Double = 0, restPart: Double = 0
        for j in 0..<v {
            let e = exp(Double(z[j]) * inv - shift)
            all += e
            if !mask.contains(j) { restPart += e }
        }
        for i in 0..<k { mask.clear(Int(ids[i])) }
        allSum = all
        restSum = max(restPart, Double.leastNormalMagnitude)
        logAllSum = log(all)
        logRestMass = log(restSum) - logAllSum
    }

    /// log q_i for the i-th top id.
    @inline(__always)
    func logMass(ofTop i: Int) -> Double { Double(z[Int(ids[i])]) * inv - shift - logAllSum }
}

/// A V-bit set of token ids on the stack; callers clear the bits they set.
struct TokenMask {
    let words: UnsafeMutablePointer<UInt64>
    @inline(__always) func contains(_ j: Int) -> Bool { words[j >> 6] & (1 << UInt64(j & 63)) != 0 }
    @inline(__always) func set(_ j: Int) { words[j >> 6] |= 1 << UInt64(j & 63) }
    @inline(__always) func clear(_ j: Int) { words[j >> 6] &= ~(1 << UInt64(j & 63)) }
}

/// Runs `body` with an empty mask of V bits (V/8 bytes of stack, no heap allocation).
func withTokenMask<R>(vocab v: Int, _ body: (TokenMask) throws -> R) rethrows -> R {
    let count = (v + 63) / 64
    return try withUnsafeTemporaryAllocation(of: UInt64.self, capacity: count) { buffer in
        let words = buffer.baseAddress!
        words.initialize(repeating: 0, count: count)
        return try body(TokenMask(words: words))
    }
}
