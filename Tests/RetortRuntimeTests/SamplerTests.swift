@testable import RetortRuntime
import XCTest

final class SamplerTests: XCTestCase {
    let logits: [Float] = [0.1, 2.0, -1.0, 1.9, 0.5, 3.0, 2.9, -4.0]

    func testGreedyIsArgmax() {
        var s = Sampler(settings: .greedy, vocabularySize: logits.count)
        XCTAssertEqual(logits.withUnsafeBufferPointer { s.sample($0) }, 5)
        var k1 = Sampler(settings: SamplerSettings(temperature: 1, topK: 1, topP: 1), vocabularySize: logits.count)
        XCTAssertEqual(logits.withUnsafeBufferPointer { k1.sample($0) }, 5)
    }

    func testSameSeedSameSequence() {
        func draw(seed: UInt64) -> [Int32] {
            var s = Sampler(settings: SamplerSettings(temperature: 1.5, topK: 0, topP: 1, seed: seed), vocabularySize: logits.count)
            return (0..<200).map { _ in logits.withUnsafeBufferPointer { s.sample($0) } }
        }
        XCTAssertEqual(draw(seed: 42), draw(seed: 42))
        XCTAssertNotEqual(draw(seed: 42), draw(seed: 43))
    }

    func testTopKRestrictsCandidates() {
        var s = Sampler(settings: SamplerSettings(temperature: 5, topK: 3, topP: 1, seed: 9), vocabularySize: logits.count)
        let drawn = Set((0..<500).map { _ in logits.withUnsafeBufferPointer { s.sample($0) } })
        XCTAssertEqual(drawn, [5, 6, 1])
    }

    func testTopPKeepsSmallestNucleus() {
        // Softmax at T=1 of [3.0, 2.9, 2.0, ...]: p(5) ≈ 0.37, p(6) ≈ 0.33 → top-p 0.5 keeps {5, 6}.
        var s = Sampler(settings: SamplerSettings(temperature: 1, topK: 0, topP: 0.5, seed: 1), vocabularySize: logits.count)
        let drawn = Set((0..<500).map { _ in logits.withUnsafeBufferPointer { s.sample($0) } })
        XCTAssertEqual(drawn, [5, 6])
    }

    func testFrequenciesFollowSoftmax() {
        let l: [Float] = [0, log(3)]    // p = 0.25, 0.75
        var s = Sampler(settings: SamplerSettings(temperature: 1, topK: 0, topP: 1, seed: 3), vocabularySize: 2)
        let n = 20_000
        let ones = (0..<n).reduce(0) { acc, _ in acc + Int(l.withUnsafeBufferPointer { s.sample($0) }) }
        XCTAssertEqual(Double(ones) / Double(n), 0.75, accuracy: 0.015)
    }

    func testExpApproximation() {
        var worst: Float = 0
        var x: Float = -80
        while x <= 80 {
            let rel = abs(expApprox(x) - Float(exp(Double(x)))) / Float(exp(Double(x)))
            worst = max(worst, rel)
            x += 0.013
        }
        XCTAssertLessThan(worst, 2e-7)
    }
}

final class UTF8StreamTests: XCTestCase {
    func testNeverSplitsACharacter() {
        let text = Array("héllo → 世界 🎭!".utf8)
        for chunk in 1...4 {
            var stream = UTF8Stream()
            var out: [UInt8] = []
            var i = 0
            while i < text.count {
                let piece = stream.push(Array(text[i ..< min(i + chunk, text.count)]))
                if !piece.isEmpty { XCTAssertNotNil(String(validating: piece, as: UTF8.self), "chunk \(chunk)") }
                out += piece
                i += chunk
            }
            out += stream.flush()
            XCTAssertEqual(out, text)
        }
    }

    func testInvalidBytesPassThrough() {
        var stream = UTF8Stream()
        let bad: [UInt8] = [0x41, 0xFF, 0x80, 0x42]
        XCTAssertEqual(stream.push(bad) + stream.flush(), bad)
    }
}

final class ExpApproxSIMDTests: XCTestCase {
    /// The 8-lane exp must equal the scalar one lane by lane (host and ARM64 then agree): a dense
    /// sample of [-100, 100], the rounding ties, and the extremes.
    func testSIMDMatchesScalarBitForBit() {
        var values: [Float] = []
        var x: Float = -100
        while x <= 100 {
            values.append(x)
            x = x.nextUp.nextUp.nextUp + 0.000_37
        }
        for n in -130...130 { values.append((Float(n) + 0.5) / 1.442_695_04) }   // near half-way ties of x/ln2
        values += [-.infinity, .infinity, -1e30, 1e30, 88.5, -87.00001, -.greatestFiniteMagnitude, .greatestFiniteMagnitude, 0, -0.0]
        while values.count % 8 != 0 { values.append(0) }
        for i in stride(from: 0, to: values.count, by: 8) {
            let v = SIMD8<Float>(values[i..<i + 8])
            let e = expApprox(v)
            for lane in 0..<8 {
                let scalar = expApprox(v[lane])
                XCTAssertEqual(e[lane].bitPattern, scalar.bitPattern, "x = \(v[lane])")
                if e[lane].bitPattern != scalar.bitPattern { return }
            }
        }
    }
}
