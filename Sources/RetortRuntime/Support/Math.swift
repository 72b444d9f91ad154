// Elementary functions without libm, so the runtime builds as Embedded Swift with no C math.

/// sin and cos of `x` (radians) in Double: reduction by π/2 (two-part constant), then Taylor
/// series on |r| ≤ π/4 (error < 1e-15 for |x| < 1e6; RoPE angles stay far below that).
public func sinCos(_ x: Double) -> (sin: Double, cos: Double) {
    let twoOverPi = 0.636_619_772_367_581_4
    let k = (x * twoOverPi).rounded()
    let r = (x - k * 1.570_796_326_794_896_6) - k * 6.123_233_995_736_766e-17
    let r2 = r * r
    // Taylor to r^17 / r^16: terms below 1e-17 on |r| ≤ π/4.
    var s = 1.0 / 355_687_428_096_000.0
    s = s * -r2 + 1.0 / 1_307_674_368_000.0
    s = s * -r2 + 1.0 / 6_227_020_800.0
    s = s * -r2 + 1.0 / 39_916_800.0
    s = s * -r2 + 1.0 / 362_880.0
    s = s * -r2 + 1.0 / 5040.0
    s = s * -r2 + 1.0 / 120.0
    s = s * -r2 + 1.0 / 6.0
    s = s * -r2 + 1.0
    let sinR = s * r
    var c = 1.0 / 20_922_789_888_000.0
    c = c * -r2 + 1.0 / 87_178_291_200.0
    c = c * -r2 + 1.0 / 479_001_600.0
    c = c * -r2 + 1.0 / 3_628_800.0
    c = c * -r2 + 1.0 / 40320.0
    c = c * -r2 + 1.0 / 720.0
    c = c * -r2 + 1.0 / 24.0
    c = c * -r2 + 0.5
    c = c * -r2 + 1.0
    let cosR = c
    switch Int(k) & 3 {
    case 0: return (sinR, cosR)
    case 1: return (cosR, -sinR)
    case 2: return (-sinR, -cosR)
    default: return (-cosR, sinR)
    }
}

/// base^e for base > 0 via exp(e·ln base), in Double (RoPE frequencies).
public func powPositive(_ base: Double, _ e: Double) -> Double {
    expDouble(e * lnDouble(base))
}

/// Natural logarithm of x > 0: x = m·2^k with m in [√½, √2), then atanh series.
public func lnDouble(_ x: Double) -> Double {
    precondition(x > 0, "lnDouble needs a positive argument")
    var m = x.significand            // [1, 2)
    var k = Double(x.exponent)
    if m > 1.414_213_562_373_095 {
        m /= 2
        k += 1
    }
    let t = (m - 1) / (m + 1)        // |t| ≤ 0.1716
    let t2 = t * t
    var sum = 0.0
    var term = t
    var n = 1.0
    while n < 40 {
        sum += term / n
        term *= t2
        n += 2
    }
    return 2 * sum + k * 0.693_147_180_559_945_3
}

/// e^x in Double: x = k·ln2 + r, |r| ≤ ln2/2, Taylor series to r^20.
public func expDouble(_ x: Double) -> Double {
    if x < -745 { return 0 }
    if x > 709 { return .infinity }
    let k = (x * 1.442_695_040_888_963_4).rounded()
    let r = (x - k * 0.693_147_180_369_123_8) - k * 1.908_214_929_270_587_7e-10
    var p = 1.0
    var i = 20.0
    while i >= 1 {
        p = 1 + p * r / i
        i -= 1
    }
    return p * Double(sign: .plus, exponent: Int(k), significand: 1)
}
