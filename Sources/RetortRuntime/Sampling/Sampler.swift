/// Seedable pseudo-random generator (xoshiro256**, seeded through splitmix64). Deterministic on
/// every platform, so a seed reproduces a generation exactly.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var z = seed
        func splitmix(_ z: inout UInt64) -> UInt64 {
            z &+= 0x9E37_79B9_7F4A_7C15
            var r = z
            r = (r ^ (r >> 30)) &* 0xBF58_476D_1CE4_E5B9
            r = (r ^ (r >> 27)) &* 0x94D0_49BB_1331_11EB
            return r ^ (r >> 31)
        }
        s = (splitmix(&z), splitmix(&z), splitmix(&z), splitmix(&z))
    }

    public mutating func next() -> UInt64 {
        @inline(__always) func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
        let result = rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = rotl(s.3, 45)
        return result
    }

    /// Uniform Float in [0, 1) from the top 24 bits.
    public mutating func nextUnitFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }
}

/// Sampling settings. `temperature == 0` (or `topK == 1`) is greedy decoding.
public struct SamplerSettings: Sendable, Equatable {
    public var temperature: Float
    public var topK: Int        // 0 = whole vocabulary
    public var topP: Float      // 1 = off
    public var seed: UInt64

    public init(temperature: Float = 0.8, topK: Int = 40, topP: Float = 0.95, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }

    public static let greedy = SamplerSettings(temperature: 0, topK: 1, topP: 1, seed: 0)
    public var isGreedy: Bool { temperature <= 0 || topK == 1 }
}

/// Picks the next token from logits: greedy, or temperature → top-k → top-p → draw.
/// Scratch space is allocated once for the vocabulary size.
public struct Sampler {
    public let settings: SamplerSettings
    public let vocabularySize: Int
    private var rng: SeededGenerator
    private var candidates: [Int32]
    private var probabilities: [Float]

    public init(settings: SamplerSettings, vocabularySize: Int) {
        self.settings = settings
        self.vocabularySize = vocabularySize
        rng = SeededGenerator(seed: settings.seed)
        candidates = [Int32](repeating: 0, count: vocabularySize)
        probabilities = [Float](repeating: 0, count: vocabularySize)
    }

    /// Index of the largest logit (lowest index on ties).
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        var bestValue = -Float.infinity
        for i in 0..<logits.count where logits[i] > bestValue {
            bestValue = logits[i]
            best = i
        }
        return Int32(best)
    }

    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        precondition(logits.count == vocabularySize, "logits size must equal the vocabulary size")
        if settings.isGreedy { return Sampler.argmax(logits) }
        let n = vocabularySize
        let k = settings.topK > 0 ? min(settings.topK, n) : n
        // Candidates: the k highest logits, sorted descending.
        for i in 0..<n { candidates[i] = Int32(i) }
        if k < n {
            selectTopK(logits, k)
        }
        candidates.withUnsafeMutableBufferPointer { buf in
            var slice = UnsafeMutableBufferPointer(rebasing: buf[0..<k])
            slice.sort { logits[Int($0)] > logits[Int($1)] }
        }
        // Softmax at temperature over the candidates.
        let invT = 1 / settings.temperature
        let maxLogit = logits[Int(candidates[0])]
        var sum: Float = 0
        for i in 0..<k {
            let p = expApprox((logits[Int(candidates[i])] - maxLogit) * invT)
            probabilities[i] = p
            sum += p
        }
        // Top-p: the smallest prefix whose mass reaches topP.
        var kept = k
        if settings.topP < 1 {
            var cumulative: Float = 0
            for i in 0..<k {
                cumulative += probabilities[i] / sum
                if cumulative >= settings.topP {
                    kept = i + 1
                    break
                }
            }
        }
        var keptSum: Float = 0
        for i in 0..<kept { keptSum += probabilities[i] }
        let r = rng.nextUnitFloat() * keptSum
        var acc: Float = 0
        for i in 0..<kept {
            acc += probabilities[i]
            if r < acc { return candidates[i] }
        }
        return candidates[kept - 1]
    }

    /// Partial selection: moves the k largest logits' indices into candidates[0..<k] (unordered).
    private mutating func selectTopK(_ logits: UnsafeBufferPointer<Float>, _ k: Int) {
        var lo = 0, hi = vocabularySize - 1
        while lo < hi {
            let pivot = logits[Int(candidates[(lo + hi) / 2])]
            var i = lo, j = hi
            while i <= j {
                while logits[Int(candidates[i])] > pivot { i += 1 }
                while logits[Int(candidates[j])] < pivot { j -= 1 }
                if i <= j {
                    candidates.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if k - 1 <= j { hi = j } else if k - 1 >= i { lo = i } else { break }
        }
    }
}

/// e^x without libm: range reduction x = n·ln2 + r with |r| ≤ ln2/2 (ln 2 split in two parts),
/// then a degree-7 Taylor polynomial (relative error < 1e-7 for x in [-87, 88]). Used by the
/// sampler and the runtime's softmax and SiLU, so host and device builds agree.
@inline(__always)
public func expApprox(_ x: Float) -> Float {
    if x < -87 { return 0 }
    let xc = min(x, 88)
    let n = (xc * 1.442_695_04).rounded()              // nearest integer to x / ln 2
    let r = (xc - n * 0.693_359_375) + n * 2.121_944_4e-4
    var p: Float = 1.0 / 5040
    p = p * r + 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    return p * Float(sign: .plus, exponent: Int(n), significand: 1)
}

/// `expApprox` on eight lanes, equal to it bit for bit in every lane: the same operations in the
/// same order (Swift never fuses a multiply and an add). Only the rounding to an integer and the
/// power of two are built differently, both exactly: round half away from zero like
/// `Float.rounded()` via the 1.5·2²³ trick (nearest-even, |v| ≤ 127) plus a fix-up of ties, and
/// 2ⁿ (n in -126...127, a normal float) from its exponent bits. Lanes below -87 are 0 (NaN
/// lanes, which trap in the scalar version, give an unspecified value here).
@inline(__always)
public func expApprox(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let xc = x.replacing(with: 88, where: x .> 88)               // min(x, 88)
    let v = xc * 1.442_695_04
    let magic = SIMD8<Float>(repeating: 12_582_912)              // 1.5·2²³
    let even = (v + magic) - magic                               // nearest, ties to even
    let d = v - even                                             // exact, in [-0.5, 0.5]
    var n = even
    n.replace(with: even + 1, where: (d .== 0.5) .& (v .> 0))    // ties away from zero
    n.replace(with: even - 1, where: (d .== -0.5) .& (v .< 0))
    let r = (xc - n * 0.693_359_375) + n * 2.121_944_4e-4
    var p = SIMD8<Float>(repeating: 1.0 / 5040)
    p = p * r + 1.0 / 720
    p = p * r + 1.0 / 120
    p = p * r + 1.0 / 24
    p = p * r + 1.0 / 6
    p = p * r + 0.5
    p = p * r + 1
    p = p * r + 1
    // 2ⁿ: n is an exact integer in range for every lane that is not replaced below, so its bits
    // after adding the magic number hold n; the biased exponent n + 127 goes to bits 23...30.
    let nBits = unsafeBitCast(n + magic, to: SIMD8<Int32>.self) &- 0x4B40_0000
    let scale = unsafeBitCast((nBits &+ 127) &<< 23, to: SIMD8<Float>.self)
    return (p * scale).replacing(with: 0, where: x .< -87)
}
