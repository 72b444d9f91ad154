import RetortRuntime
import XCTest
@testable import RetortQuantize

/// Samples from seeded distributions.
struct Samples {
    var rng: SeededGenerator
    init(seed: UInt64) { rng = SeededGenerator(seed: seed) }
    mutating func uniform() -> Float { rng.nextUnitFloat() }
    mutating func laplace(_ b: Float) -> Float {
        let u = max(rng.nextUnitFloat(), 1e-7) - 0.5
        return -b * (u < 0 ? -1 : 1) * log(1 - 2 * abs(u) + 1e-7)
    }
    mutating func gaussian() -> Float {
        let u1 = max(rng.nextUnitFloat(), 1e-7), u2 = rng.nextUnitFloat()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}

/// Mean squared error of symmetric int8 with clip threshold t on the raw values.
func int8MSE(_ x: [Float], threshold t: Float) -> Double {
    let s = t / 127
    var e = 0.0
    for v in x {
        let q = max(-127, min(127, (v / s).rounded(.toNearestOrEven)))
        let d = Double(v - q * s)
        e += d * d
    }
    return e / Double(x.count)
}

final class CalibratorTests: XCTestCase {
    static let all: [Calibrator] = [.minMax, .percentile(99.99), .entropy, .mse]

    func histogram(_ x: [Float]) -> AbsHistogram {
        var h = AbsHistogram()
        // In chunks, so the range grows (bins merge) as larger values arrive.
        var i = 0
        while i < x.count {
            h.add(Array(x[i ..< min(i + 1000, x.count)]))
            i += 1000
        }
        return h
    }

    func testMinMaxIsTheLargestMagnitude() {
        let h = histogram([0.5, -3.7, 1.25, 2.0])
        XCTAssertEqual(Calibrator.minMax.threshold(h), 3.7)
        XCTAssertEqual(h.total, 4)
    }

    func testPercentileMatchesTheComputedQuantile() {
        var s = Samples(seed: 3)
        let x = (0..<100_000).map { _ in s.uniform() * 2 - 1 }
        let h = histogram(x)
        let sorted = x.map(abs).sorted()
        for p in [90.0, 99.0, 99.9] {
            let exact = sorted[Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1]
            let t = Calibrator.percentile(p).threshold(h)
            XCTAssertEqual(t, exact, accuracy: 2 * h.binWidth, "percentile \(p)")
        }
    }

    func testEntropyAndMSEClipHeavyTailsTighterThanMinMax() {
        var s = Samples(seed: 5)
        let x = (0..<200_000).map { _ in s.laplace(1) }
        let h = histogram(x)
        let minMax = Calibrator.minMax.threshold(h)
        for calibrator in [Calibrator.entropy, .mse, .percentile(99.99)] {
            let t = calibrator.threshold(h)
            XCTAssertLessThan(t, 0.9 * minMax, "\(calibrator) should clip the Laplace tail (max \(minMax))")
            XCTAssertGreaterThan(t, 3, "\(calibrator) clipped into the body of Laplace(1)")
        }
        XCTAssertLessThan(int8MSE(x, threshold: Calibrator.mse.threshold(h)), int8MSE(x, threshold: minMax))
    }

    func testEntropyAndPercentileIgnoreRareOutliers() {
        var s = Samples(seed: 6)
        var x = (0..<200_000).map { _ in s.laplace(1) }
        x += [60, -55, 48]
        let h = histogram(x)
        XCTAssertEqual(Calibrator.minMax.threshold(h), 60)
        for calibrator in [Calibrator.entropy, .percentile(99.99)] {
            let t = calibrator.threshold(h)
            XCTAssertTrue(t > 3 && t < 20, "\(calibrator): \(t)")
        }
        // MSE weighs the outliers' squared clipping error: it keeps more range than entropy.
        XCTAssertGreaterThan(Calibrator.mse.threshold(h), Calibrator.entropy.threshold(h))
    }

    func testMSEThresholdIsNearTheBruteForceOptimum() {
        var s = Samples(seed: 7)
        for tail in [false, true] {
            var x = (0..<100_000).map { _ in tail ? s.laplace(1) : s.gaussian() }
            if tail { x += [40, -35] }
            let h = histogram(x)
            let t = Calibrator.mse.threshold(h)
            let top = Calibrator.minMax.threshold(h)
            var best = Double.infinity
            for i in 1...400 { best = min(best, int8MSE(x, threshold: top * Float(i) / 400)) }
            XCTAssertLessThan(int8MSE(x, threshold: t), best * 1.05, "tail \(tail): threshold \(t) of max \(top)")
        }
    }

    func testEntropyKeepsTheRangeOfUniformData() {
        var s = Samples(seed: 9)
        let x = (0..<100_000).map { _ in s.uniform() * 4 - 2 }
        let h = histogram(x)
        XCTAssertGreaterThan(Calibrator.entropy.threshold(h), 0.9 * h.absMax)
    }

    func testZeroAndConstantDataGiveFiniteThresholds() {
        let zeros = histogram([Float](repeating: 0, count: 4096))
        for c in Self.all { XCTAssertEqual(c.threshold(zeros), 0, "\(c) on zeros") }
        let constant = histogram([Float](repeating: -2.5, count: 4096))
        for c in Self.all {
            let t = c.threshold(constant)
            XCTAssertTrue(t.isFinite && t > 0 && t <= 2.5, "\(c) on a constant: \(t)")
        }
        // An empty histogram.
        for c in Self.all { XCTAssertEqual(c.threshold(AbsHistogram()), 0) }
    }

    func testHistogramGrowthKeepsEveryCount() {
        var h = AbsHistogram(binCount: 64)
        h.add([0.1, 0.2])
        h.add([5, -9])
        h.add([100])
        XCTAssertEqual(h.total, 5)
        XCTAssertEqual(h.counts.reduce(0, +), 5)
        XCTAssertGreaterThanOrEqual(h.range, 100)
        XCTAssertEqual(h.absMax, 100)
    }

    func testCalibratorNames() {
        XCTAssertEqual(Calibrator(name: "percentile", percentile: 99.99)?.description, "percentile-99.99")
        XCTAssertEqual(Calibrator(name: "mse"), .mse)
        XCTAssertNil(Calibrator(name: "nope"))
    }
}
