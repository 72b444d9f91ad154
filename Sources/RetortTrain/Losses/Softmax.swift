import Foundation

// Row-wise softmax pieces shared by the losses, computed in Double (rows are V wide, V ~ 5·10⁴).

/// log Σ_j exp(z_j / τ) over one row of V logits, stable (max subtracted); `inverseTemperature` = 1/τ.
@inline(__always)
func logSumExp(_ z: UnsafePointer<Float>, count v: Int, inverseTemperature: Double = 1) -> Double {
    var maxValue = -Float.infinity
    for j in 0..<v { maxValue = max(maxValue, z[j]) }
    let m = Double(maxValue) * inverseTemperature
    var sum: Double = 0
    for j in 0..<v { sum += exp(Double(z[j]) * inverseTemperature - m) }
    return m + log(sum)
}
