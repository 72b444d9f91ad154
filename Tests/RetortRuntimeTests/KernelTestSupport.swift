@testable import RetortRuntime
import XCTest

/// Deterministic generator for kernel inputs (SplitMix64).
struct KernelRNG {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in -127...127.
    mutating func int8() -> Int8 { Int8(Int(next() % 255) - 127) }

    /// Uniform in [-1, 1).
    mutating func unit() -> Float { Float(next() >> 40) * 0x1p-23 - 1 }

    mutating func int8s(_ count: Int) -> [Int8] { (0..<count).map { _ in int8() } }
    mutating func floats(_ count: Int, scale: Float = 1) -> [Float] { (0..<count).map { _ in unit() * scale } }
}

/// Runs `body` once with every kernel path this CPU supports forced, then restores the default.
func forEachKernelPath(_ body: (KernelPath) throws -> Void) rethrows {
    defer { Kernels.reset() }
    for path in Kernels.available {
        Kernels.force(path)
        try body(path)
    }
}

/// Fails with the first few mismatching indices if `actual` and `expected` differ anywhere
/// (exact comparison; for floats, bit patterns must be equal).
func assertExactlyEqual<T: Equatable>(_ actual: [T], _ expected: [T], _ what: @autoclosure () -> String,
                                      file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "\(what()): count", file: file, line: line)
    var shown = 0, mismatches = 0
    var report = ""
    for i in 0..<min(actual.count, expected.count) where actual[i] != expected[i] {
        mismatches += 1
        if shown < 5 {
            report += " [\(i)] got \(actual[i]) expected \(expected[i]);"
            shown += 1
        }
    }
    if mismatches > 0 {
        XCTFail("\(what()): \(mismatches) mismatches:\(report)", file: file, line: line)
    }
}

/// Pool sizes every multi-threaded kernel test runs with (nil = no pool).
let kernelTestPools: [ThreadPool?] = [nil, ThreadPool(threads: 1), ThreadPool(threads: 2), ThreadPool(threads: 3)]
