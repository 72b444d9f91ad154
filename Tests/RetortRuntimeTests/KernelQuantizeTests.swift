@testable import RetortRuntime
import XCTest

/// Per-row symmetric int8 quantization: identical on every path, bounded error, safe zero rows.
final class KernelQuantizeTests: XCTestCase {
    /// |x − q·scale| ≤ scale · (1/2 + this): the half step plus float rounding of x · (127/absmax).
    static let roundTripSlack: Float = 1e-5

    private func quantizeAllPaths(_ x: [Float], rows: Int, cols: Int,
                                  file: StaticString = #filePath, line: UInt = #line) -> ([Int8], [Float]) {
        var qRef = [Int8](repeating: 0, count: rows * cols), sRef = [Float](repeating: 0, count: rows)
        quantizeRowsInt8Reference(&qRef, &sRef, x, rows: rows, cols: cols)
        forEachKernelPath { path in
            var q = [Int8](repeating: 99, count: rows * cols), s = [Float](repeating: .nan, count: rows)
            quantizeRowsInt8(&q, &s, x, rows: rows, cols: cols)
            assertExactlyEqual(q, qRef, "q \(path) cols=\(cols)", file: file, line: line)
            assertExactlyEqual(s.map(\.bitPattern), sRef.map(\.bitPattern), "scales \(path) cols=\(cols)", file: file, line: line)
        }
        return (qRef, sRef)
    }

    func testPathsAgreeAndErrorIsBounded() {
        var rng = KernelRNG(seed: 21)
        for cols in [1, 7, 8, 31, 32, 33, 100, 576, 1536] {
            let rows = 5
            var x = [Float]()
            for r in 0..<rows { x += rng.floats(cols, scale: [1e-3, 1, 30, 1e4, 1e-20][r]) }
            let (q, s) = quantizeAllPaths(x, rows: rows, cols: cols)
            for r in 0..<rows {
                XCTAssertGreaterThan(s[r], 0)
                var hitsLimit = false
                for i in 0..<cols {
                    let qi = q[r * cols + i], xi = x[r * cols + i]
                    XCTAssert((-127...127).contains(qi))
                    if abs(qi) == 127 { hitsLimit = true }
                    let err = abs(xi - Float(qi) * s[r])
                    XCTAssertLessThanOrEqual(err, s[r] * (0.5 + Self.roundTripSlack), "row \(r) col \(i) x=\(xi)")
                }
                XCTAssertTrue(hitsLimit, "the absmax element must map to ±127")
            }
        }
    }

    func testZeroAndTinyRowsGiveZeroScale() {
        let cols = 40
        var x = [Float](repeating: 0, count: 3 * cols)
        x[cols + 3] = 1e-38                         // below quantizeMinAbsMax
        x[2 * cols + 5] = -1e-38; x[2 * cols + 6] = 0
        let (q, s) = quantizeAllPaths(x, rows: 3, cols: cols)
        XCTAssertEqual(s, [0, 0, 0])
        XCTAssertEqual(Set(q), [0])
    }

    func testRoundsHalfToEven() {
        // absmax 127 makes the multiplier exactly 1, so these are exact ties.
        let x: [Float] = [127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -126.5, 3.49]
        let (q, s) = quantizeAllPaths(x, rows: 1, cols: x.count)
        XCTAssertEqual(s, [1])
        XCTAssertEqual(q, [127, 0, 2, 2, 0, -2, -2, 126, -126, 3])
        // The same in the vector body (32 columns) as in the tail.
        let wide = [Float](repeating: 2.5, count: 31) + [-127]
        let (qw, _) = quantizeAllPaths(wide, rows: 1, cols: wide.count)
        XCTAssertEqual(qw, [Int8](repeating: 2, count: 31) + [-127])
    }

    func testNaNDoesNotTrapAndAgreesAcrossPaths() {
        let x: [Float] = [1, .nan, -2] + [Float](repeating: 0.5, count: 37) + [.nan]
        let (q, s) = quantizeAllPaths(x, rows: 1, cols: x.count)
        XCTAssertEqual(s[0], 2 / 127)
        XCTAssertEqual(q[1], -127)
        XCTAssertEqual(q[2], -127)
    }

    func testNegativeAbsMaxMapsToMinus127() {
        let x: [Float] = [-3, 1, 2, 0]
        let (q, s) = quantizeAllPaths(x, rows: 1, cols: 4)
        XCTAssertEqual(q[0], -127)
        XCTAssertEqual(s[0], 3 / 127)
    }
}
