import RetortModel
import RetortRuntime
import XCTest
@testable import RetortQuantize

final class WeightQuantizerTests: XCTestCase {
    func randomMatrix(rows: Int, cols: Int, seed: UInt64) -> [Float] {
        var s = Samples(seed: seed)
        return (0..<rows * cols).map { _ in s.laplace(0.05) }
    }

    /// |w − q·s| ≤ s/2 for every element of an unclipped scheme; q in [-127, 127].
    func checkBound(_ w: [Float], _ m: QuantizedMatrix, file: StaticString = #filePath, line: UInt = #line) {
        let d = m.dequantized()
        let groups = m.scheme == .perChannel ? 1 : m.scales.count / m.rows
        var worst: (Float, Int) = (0, -1)
        for i in 0..<w.count {
            let s = m.scales[(i / m.cols) * groups + (i % m.cols) / (m.cols / groups)]
            let excess = abs(w[i] - d[i]) - (s / 2 + 1e-7 * abs(w[i]))
            if excess > worst.0 { worst = (excess, i) }
            XCTAssertTrue((-127...127).contains(Int(m.q[i])))
        }
        XCTAssertEqual(worst.1, -1, "element \(worst.1) exceeds the s/2 bound by \(worst.0)", file: file, line: line)
    }

    func testPerChannelBoundAndAgreementWithTheConverter() {
        let (rows, cols) = (24, 96)
        let w = randomMatrix(rows: rows, cols: cols, seed: 1)
        let m = w.withUnsafeBufferPointer { quantizeWeights($0.baseAddress!, rows: rows, cols: cols, scheme: .perChannel) }
        checkBound(w, m)
        let reference = w.withUnsafeBufferPointer { quantizeInt8PerChannel($0, rows: rows, cols: cols) }
        XCTAssertEqual(m.q, reference.q)
        XCTAssertEqual(m.scales, reference.scales)
    }

    func testPerGroupBoundAndSmallerErrorWithRowOutliers() {
        let (rows, cols) = (16, 128)
        var w = randomMatrix(rows: rows, cols: cols, seed: 2)
        for r in 0..<rows { w[r * cols + (r * 7) % cols] = 2 }     // one outlier per row
        let channel = w.withUnsafeBufferPointer { quantizeWeights($0.baseAddress!, rows: rows, cols: cols, scheme: .perChannel) }
        let group = w.withUnsafeBufferPointer { quantizeWeights($0.baseAddress!, rows: rows, cols: cols, scheme: .perGroup(32)) }
        checkBound(w, channel)
        checkBound(w, group)
        XCTAssertEqual(group.scales.count, rows * cols / 32)
        let reference = w.withUnsafeBufferPointer { quantizeInt8PerGroup($0, rows: rows, cols: cols, groupSize: 32) }
        XCTAssertEqual(group.q, reference.q)
        func sse(_ m: QuantizedMatrix) -> Double { zip(w, m.dequantized()).reduce(0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } }
        XCTAssertLessThan(sse(group), 0.5 * sse(channel))
    }

    func testClipSearchNeverIncreasesTheErrorAndHelpsHeavyTails() {
        // Long Laplace rows: their max (≈ ln(n)·b) lies beyond the MSE-optimal 8-bit clip (≈ 9.9·b).
        let (rows, cols) = (2, 1 << 16)
        var s = Samples(seed: 3)
        var w = (0..<rows * cols).map { _ in s.laplace(1) }
        w += (0..<2 * 64).map { _ in s.gaussian() }                    // two short Gaussian rows
        let plainLong = w.withUnsafeBufferPointer { quantizeWeights($0.baseAddress!, rows: rows, cols: cols, scheme: .perChannel) }
        let clippedLong = w.withUnsafeBufferPointer { quantizeWeights($0.baseAddress!, rows: rows, cols: cols, scheme: .perChannel, clipSearch: true) }
        func rowErrors(_ m: QuantizedMatrix, _ values: ArraySlice<Float>) -> [Double] {
            let d = m.dequantized()
            return (0..<m.rows).map { r in
                (r * m.cols ..< (r + 1) * m.cols).reduce(0.0) { $0 + Double((values[values.startIndex + $1] - d[$1]) * (values[values.startIndex + $1] - d[$1])) }
            }
        }
        let (ep, ec) = (rowErrors(plainLong, w[0 ..< rows * cols]), rowErrors(clippedLong, w[0 ..< rows * cols]))
        for r in 0..<rows { XCTAssertLessThan(ec[r], 0.97 * ep[r], "Laplace row \(r)") }
        let short = Array(w[rows * cols ..< w.count])
        let plainShort = short.withUnsafeBufferPointer { quantizeWeights($0.baseAddress!, rows: 2, cols: 64, scheme: .perGroup(16)) }
        let clippedShort = short.withUnsafeBufferPointer { quantizeWeights($0.baseAddress!, rows: 2, cols: 64, scheme: .perGroup(16), clipSearch: true) }
        let (sp, sc) = (rowErrors(plainShort, short[...]), rowErrors(clippedShort, short[...]))
        for r in 0..<2 { XCTAssertLessThanOrEqual(sc[r], sp[r] * (1 + 1e-9), "Gaussian row \(r)") }
        XCTAssertTrue(clippedLong.scales.allSatisfy { $0 > 0 && $0.isFinite })
    }

    func testZeroAndConstantRows() {
        let cols = 64
        var w = [Float](repeating: 0, count: 3 * cols)
        for i in cols ..< 2 * cols { w[i] = -0.3 }                 // constant row
        w[2 * cols + 5] = .leastNonzeroMagnitude                    // subnormal-only row
        for scheme in [WeightScheme.perChannel, .perGroup(16)] {
            for clip in [false, true] {
                let m = w.withUnsafeBufferPointer { quantizeWeights($0.baseAddress!, rows: 3, cols: cols, scheme: scheme, clipSearch: clip) }
                let d = m.dequantized()
                XCTAssertTrue(d.allSatisfy(\.isFinite) && m.scales.allSatisfy(\.isFinite), "\(scheme) clip \(clip)")
                XCTAssertTrue(d[0 ..< cols].allSatisfy { $0 == 0 }, "zero row")
                for i in cols ..< 2 * cols { XCTAssertEqual(d[i], -0.3, accuracy: 1e-6, "constant row") }
            }
        }
    }

    /// The activation side as the runtime runs it: per-token dynamic (absmax / 127) and a static
    /// scale (values beyond 127·s clip); zero and constant channels give no NaN.
    func testActivationQuantizationBounds() {
        let (t, k) = (4, 64)
        var s = Samples(seed: 4)
        var x = (0..<t * k).map { _ in s.gaussian() }
        for r in 0..<t { x[r * k + 3] = 0; x[r * k + 9] = 1.5 }   // zero and constant channels
        for i in 0..<k { x[2 * k + i] = 0 }                        // an all-zero token
        var q = [Int8](repeating: 0, count: t * k), scales = [Float](repeating: 0, count: t)
        quantizeRowsInt8(&q, &scales, x, rows: t, cols: k)
        for i in 0..<t * k {
            let sc = scales[i / k]
            XCTAssertTrue(sc.isFinite)
            XCTAssertLessThanOrEqual(abs(x[i] - Float(q[i]) * sc), sc / 2 + 1e-6, "dynamic [\(i)]")
        }
        XCTAssertEqual(scales[2], 0)
        let threshold: Float = 2
        quantizeRowsWithScale(&q, &scales, x, rows: t, cols: k, scale: threshold / 127)
        for i in 0..<t * k {
            let sc = threshold / 127
            let expected = abs(x[i]) > threshold ? abs(x[i]) - threshold : sc / 2
            XCTAssertLessThanOrEqual(abs(x[i] - Float(q[i]) * sc), expected + 1e-5, "static [\(i)]")
        }
        quantizeRowsWithScale(&q, &scales, x, rows: t, cols: k, scale: 0)
        XCTAssertTrue(q.allSatisfy { $0 == 0 })
    }
}
