import Foundation
import RetortImport
import RetortRuntime
import XCTest

final class SHA256Tests: XCTestCase {
    /// FIPS 180-4 / NIST example vectors.
    func testKnownVectors() {
        XCTAssertEqual(SHA256.hex([]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000)),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testIncrementalEqualsOneShot() throws {
        var rng = SeededGenerator(seed: 5)
        let data = (0..<10_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        for split in [0, 1, 63, 64, 65, 1000, 9999] {
            var s = SHA256()
            s.update(Array(data[..<split]))
            s.update(Array(data[split...]))
            XCTAssertEqual(s.finalize(), { var t = SHA256(); t.update(data); return t.finalize() }(), "split \(split)")
        }
        let path = NSTemporaryDirectory() + "sha256-test.bin"
        try Data(data).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try SHA256.hex(fileAt: path), SHA256.hex(data))
    }
}
