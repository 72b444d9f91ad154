import Foundation

// Next-token cross-entropy. N = B·T positions, V vocabulary. logits: (N, V); labels: (N), in 0..<V.

/// losses[r] = −log softmax(logits[r, :])[labels[r]] = logsumexp(logits[r, :]) − logits[r, labels[r]].
/// Returns the mean over the N positions. Nothing is saved: the backward pass recomputes the
/// softmax (an (N, V) probability tensor would be the largest activation of the model).
/// - losses: (N).
@discardableResult
public func crossEntropyForward(_ losses: UnsafeMutablePointer<Float>, _ logits: UnsafePointer<Float>,
                                _ labels: UnsafePointer<Int32>, rows n: Int, vocab v: Int) -> Float {
    var total: Double = 0
    for r in 0..<n {
        let z = logits + r * v
        let loss = logSumExp(z, count: v) - Double(z[Int(labels[r])])
        losses[r] = Float(loss)
        total += loss
    }
    return n > 0 ? Float(total / Double(n)) : 0
}

/// dLogits[r, j] += scale · (softmax(logits[r, :])_j − [j == labels[r]]).
/// `scale` is ∂objective/∂losses[r]: 1/N for the mean returned by `crossEntropyForward`.
/// - dLogits: (N, V).
public func crossEntropyBackward(_ dLogits: UnsafeMutablePointer<Float>, _ logits: UnsafePointer<Float>,
                                 _ labels: UnsafePointer<Int32>, rows n: Int, vocab v: Int, scale: Float) {
    for r in 0..<n {
        let z = logits + r * v, dz = dLogits + r * v
        let lse = logSumExp(z, count: v)
        for j in 0..<v { dz[j] += scale * Float(exp(Double(z[j]) - lse)) }
        dz[Int(labels[r])] -= scale
    }
}
