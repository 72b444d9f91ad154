import Foundation

// How close top-K distillation (what a teacher cache stores) comes to full-vocabulary
// distillation on the same logits. N positions, V vocabulary.
//   student, teacher: (N, V) logits.
// For each K the teacher is reduced as the cache does (`sparseTeacherFromLogits` at τ = 1) and,
// for τ ≠ 1, tempered with `temperSparseTeacher`, exactly what training reads. Compared with
// the full loss `distillationKLForward/Backward` at the same τ:
//   lossRatio      = mean sparse loss / mean full loss (≤ 1 up to the rest-bucket approximation at τ ≠ 1)
//   gradientCosine = cos(∂sparse/∂z_s, ∂full/∂z_s) over all N·V entries (the direction the
//                    optimizer is pushed in)

/// One (K, τ) row of the comparison.
public struct SparseDistillationFidelity: Sendable, Equatable {
    public let topK: Int
    public let temperature: Float
    /// Mean teacher mass outside the top K at τ = 1 (what the cache's `rest` holds).
    public let meanRestMass: Double
    /// Mean τ²·KL over the positions, full vocabulary and top-K + rest.
    public let fullLoss: Double
    public let sparseLoss: Double
    public let gradientCosine: Double
    public var lossRatio: Double { fullLoss > 0 ? sparseLoss / fullLoss : 1 }
}

/// Compares sparse and full forward-KL distillation for every K in `topKs` and τ in `temperatures`.
public func measureSparseDistillationFidelity(student: UnsafePointer<Float>, teacher: UnsafePointer<Float>,
                                              rows n: Int, vocab v: Int, topKs: [Int],
                                              temperatures: [Float]) -> [SparseDistillationFidelity] {
    let losses = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
    let fullGradient = UnsafeMutablePointer<Float>.allocate(capacity: max(n * v, 1))   // (N, V)
    let sparseGradient = UnsafeMutablePointer<Float>.allocate(capacity: max(n * v, 1)) // (N, V)
    defer { losses.deallocate(); fullGradient.deallocate(); sparseGradient.deallocate() }
    let scale = 1 / Float(max(n, 1))
    var results: [SparseDistillationFidelity] = []
    // The sparse teachers at τ = 1, once per K: ids (N, K), log-probs (N, K), rest (N).
    let sparse: [(ids: [Int32], logProbs: [Float], rest: [Float])] = topKs.map { k in
        precondition(k >= 1 && k <= v, "topK must be in 1...vocab")
        var ids = [Int32](repeating: 0, count: n * k), logProbs = [Float](repeating: 0, count: n * k)
        var rest = [Float](repeating: 0, count: n)
        sparseTeacherFromLogits(&ids, &logProbs, &rest, teacher, rows: n, vocab: v, topK: k, temperature: 1)
        return (ids, logProbs, rest)
    }
    for tau in temperatures {
        let full = Double(distillationKLForward(losses, student, teacher, rows: n, vocab: v, temperature: tau))
        fullGradient.update(repeating: 0, count: n * v)
        distillationKLBackward(fullGradient, student, teacher, rows: n, vocab: v, temperature: tau, scale: scale)
        for (k, teacherK) in zip(topKs, sparse) {
            let meanRest = n > 0 ? teacherK.rest.reduce(0) { $0 + Double($1) } / Double(n) : 0
            var logProbs = teacherK.logProbs, rest = teacherK.rest
            if tau != 1 {
                temperSparseTeacher(&logProbs, &rest, teacherK.logProbs, teacherK.rest, rows: n, vocab: v, topK: k, temperature: tau)
            }
            let sparseLoss = Double(sparseDistillationForward(losses, student, teacherK.ids, logProbs, rest,
                                                              rows: n, vocab: v, topK: k, temperature: tau))
            sparseGradient.update(repeating: 0, count: n * v)
            sparseDistillationBackward(sparseGradient, student, teacherK.ids, logProbs, rest, rows: n, vocab: v, topK: k,
                                       temperature: tau, scale: scale)
            var dot: Double = 0, fullNorm: Double = 0, sparseNorm: Double = 0
            for i in 0..<(n * v) {
                let a = Double(fullGradient[i]), b = Double(sparseGradient[i])
                dot += a * b
                fullNorm += a * a
                sparseNorm += b * b
            }
            let cosine = fullNorm > 0 && sparseNorm > 0 ? dot / (fullNorm * sparseNorm).squareRoot() : 1
            results.append(SparseDistillationFidelity(topK: k, temperature: tau, meanRestMass: meanRest,
                                                      fullLoss: full, sparseLoss: sparseLoss, gradientCosine: cosine))
        }
    }
    return results
}
