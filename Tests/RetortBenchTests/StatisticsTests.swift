import XCTest
@testable import RetortBench

final class StatisticsTests: XCTestCase {
    func testMedianOddEvenAndUnsorted() {
        XCTAssertEqual(median([5, 1, 3]), 3)
        XCTAssertEqual(median([4, 1, 3, 2]), 2.5)
        XCTAssertEqual(median([7]), 7)
        XCTAssertEqual(median([]), 0)
    }

    func testPercentileInterpolatesBetweenOrderStatistics() {
        let v: [Double] = [10, 20, 30, 40, 50]   // ranks 0…4
        XCTAssertEqual(percentile(v, 0), 10)
        XCTAssertEqual(percentile(v, 1), 50)
        XCTAssertEqual(percentile(v, 0.25), 20)
        XCTAssertEqual(percentile(v, 0.95), 48, accuracy: 1e-12)      // rank 3.8: 40 + 0.8 · 10
        XCTAssertEqual(percentile([1, 2], 0.5), 1.5)
    }

    func testSpread() throws {
        let s = try XCTUnwrap(Spread([9, 1, 5, 3, 7, 11]))
        XCTAssertEqual(s.median, 6)
        XCTAssertEqual(s.min, 1)
        XCTAssertEqual(s.max, 11)
        XCTAssertEqual(s.q1, 3.5)     // rank 1.25 of 1 3 5 7 9 11
        XCTAssertEqual(s.q3, 8.5)     // rank 3.75
        XCTAssertEqual(s.count, 6)
        XCTAssertEqual(s.relativeHalfRange, 10.0 / 12, accuracy: 1e-12)
        XCTAssertNil(Spread([]))
        let one = try XCTUnwrap(Spread([2.5]))
        XCTAssertEqual([one.median, one.min, one.max, one.q1, one.q3], [2.5, 2.5, 2.5, 2.5, 2.5])
    }

    func testTableSpreadFormatting() throws {
        XCTAssertEqual(BenchTable.spread(try XCTUnwrap(Spread([611.3, 598.2, 620.9]))), "611 [598–621]")
        XCTAssertEqual(BenchTable.spread(try XCTUnwrap(Spread([12.34]))), "12.3")
        XCTAssertEqual(BenchTable.short(1.234), "1.23")
    }
}
