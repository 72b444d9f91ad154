@testable import RetortRuntime
import XCTest

/// The flat vocabulary index: every stored string maps back to its id, absent strings (prefixes,
/// extensions, other bytes) are not found, duplicates are reported with the first id.
final class TokenTableTests: XCTestCase {
    func testLookupAndDuplicates() {
        // 5,000 distinct strings, many sharing prefixes, in a table sized for them (forces probing).
        var strings: [[UInt8]] = []
        for i in 0..<5_000 { strings.append(Array("t\(i % 97)_\(i)".utf8)) }
        strings.append([0x00])
        strings.append([0xFF, 0xFE])
        var table = TokenTable(capacity: strings.count)
        for s in strings { XCTAssertNil(table.append(s)) }
        XCTAssertEqual(table.count, strings.count)
        for (i, s) in strings.enumerated() {
            XCTAssertEqual(table.id(of: s), Int32(i))
            XCTAssertEqual(Array(table.token(i)), s)
            XCTAssertEqual(table.length(i), s.count)
        }
        XCTAssertEqual(table.id(of: Array("t3_3".utf8).dropLast()), nil)   // a prefix
        XCTAssertNil(table.id(of: Array("t3_3x".utf8)))                   // an extension
        XCTAssertNil(table.id(of: [UInt8]()))
        XCTAssertNil(table.id(of: [0xFF]))
        // A duplicate is refused and names the first id; nothing is appended.
        XCTAssertEqual(table.append(Array("t5_5".utf8)), 5)
        XCTAssertEqual(table.count, strings.count)
        // Lookups through other collection types (slices, String.UTF8View) agree.
        let slice = ([0x41] + strings[42])[1...]
        XCTAssertEqual(table.id(of: slice), 42)
        XCTAssertEqual(table.id(of: "t42_42".utf8), 42)
    }
}
