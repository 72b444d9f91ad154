import Foundation
@testable import RetortRuntime
import XCTest

/// The runtime's libm-free functions against Foundation's.
final class MathTests: XCTestCase {
    /// Relative error allowed for the Double-precision helpers used to build RoPE tables.
    let doubleTolerance = 1e-13

    func testSinCos() {
        var worst = 0.0
        var x = -3000.0
        while x < 8200 {
            let (s, c) = sinCos(x)
            worst = max(worst, abs(s - sin(x)), abs(c - cos(x)))
            x += 0.737
        }
        XCTAssertLessThan(worst, 1e-12)
        XCTAssertEqual(sinCos(0).sin, 0)
        XCTAssertEqual(sinCos(0).cos, 1)
    }

    func testExpAndLog() {
        for x in stride(from: -700.0, through: 700.0, by: 0.91) {
            XCTAssertEqual(expDouble(x), exp(x), accuracy: exp(x) * doubleTolerance, "exp(\(x))")
        }
        for x in [1e-300, 1e-10, 0.3, 1, 1.5, 2, 10, 1e5, 1e300] {
            XCTAssertEqual(lnDouble(x), log(x), accuracy: max(1, abs(log(x))) * doubleTolerance, "ln(\(x))")
        }
        XCTAssertEqual(powPositive(100_000, -2.0 * 31 / 64), pow(100_000, -2.0 * 31 / 64), accuracy: 1e-15)
    }

    func testHalfConversionRoundTrip() {
        for bits in UInt16.min...UInt16.max {
            let f = halfToFloat(bits)
            if f.isNaN { continue }
            XCTAssertEqual(floatToHalf(f), bits, "0x\(String(bits, radix: 16))")
        }
    }
}
