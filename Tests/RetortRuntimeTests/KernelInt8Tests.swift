@testable import RetortRuntime
import XCTest

/// Every int8 path against the scalar reference: Int32 sums and scaled outputs bit for bit.
final class KernelInt8Tests: XCTestCase {
    /// Checks `matmulInt8Accumulate` and `matmulInt8` on every path and pool against the references.
    private func check(t: Int, k: Int, n: Int, x: [Int8], w: [Int8], seed: UInt64,
                       file: StaticString = #filePath, line: UInt = #line) {
        var rng = KernelRNG(seed: seed)
        let xs = rng.floats(t, scale: 0.05).map { abs($0) + 1e-3 }
        let ws = rng.floats(n, scale: 0.02).map { abs($0) + 1e-4 }
        var accRef = [Int32](repeating: 0, count: t * n)
        var yRef = [Float](repeating: 0, count: t * n)
        matmulInt8AccumulateReference(&accRef, x, w, rows: t, inDim: k, outDim: n)
        matmulInt8Reference(&yRef, x, xs, w, ws, rows: t, inDim: k, outDim: n)
        forEachKernelPath { path in
            for pool in kernelTestPools {
                let label = "\(path) T=\(t) K=\(k) N=\(n) threads=\(pool?.threadCount ?? 0)"
                var acc = [Int32](repeating: -1, count: t * n)
                var y = [Float](repeating: .nan, count: t * n)
                matmulInt8Accumulate(&acc, x, w, rows: t, inDim: k, outDim: n, pool: pool)
                matmulInt8(&y, x, xs, w, ws, rows: t, inDim: k, outDim: n, pool: pool)
                assertExactlyEqual(acc, accRef, "acc \(label)", file: file, line: line)
                assertExactlyEqual(y.map(\.bitPattern), yRef.map(\.bitPattern), "y \(label)", file: file, line: line)
            }
        }
    }

    func testOddShapesMatchReferenceExactly() {
        var rng = KernelRNG(seed: 1)
        for t in [1, 3, 17] {
            for k in [32, 64, 96, 576, 1536] {
                for n in [1, 5, 13, 67] {
                    check(t: t, k: k, n: n, x: rng.int8s(t * k), w: rng.int8s(n * k), seed: rng.next())
                }
            }
        }
    }

    func testInDimNotMultipleOf32() {
        var rng = KernelRNG(seed: 2)
        for k in [1, 7, 16, 31, 33, 47, 100, 577] {
            for (t, n) in [(1, 9), (5, 6)] {
                check(t: t, k: k, n: n, x: rng.int8s(t * k), w: rng.int8s(n * k), seed: rng.next())
            }
        }
    }

    func testExtremeValuesDoNotSaturate() {
        // ±127 everywhere: each u8×s8 pair sums to ±2·127·127 = ±32258 < 32767 (no int16
        // saturation in maddubs), and K = 1536 sums to ±24,774,144.
        let t = 5, k = 1536, n = 7
        for (xv, wv) in [(Int8(127), Int8(127)), (-127, -127), (127, -127), (-127, 127)] {
            let x = [Int8](repeating: xv, count: t * k), w = [Int8](repeating: wv, count: n * k)
            var acc = [Int32](repeating: 0, count: t * n)
            forEachKernelPath { path in
                matmulInt8Accumulate(&acc, x, w, rows: t, inDim: k, outDim: n, pool: nil)
                XCTAssertEqual(Set(acc), [Int32(xv) * Int32(wv) * Int32(k)], "\(path) x=\(xv) w=\(wv)")
            }
            check(t: t, k: k, n: n, x: x, w: w, seed: 3)
            check(t: 1, k: k, n: n, x: Array(x.prefix(k)), w: w, seed: 3)   // the decode GEMV
        }
        // Alternating extremes, mixed signs, and zeros.
        let x = (0..<(3 * 64)).map { i -> Int8 in i % 3 == 0 ? 0 : (i % 2 == 0 ? 127 : -127) }
        let w = (0..<(6 * 64)).map { i -> Int8 in i % 5 == 0 ? -127 : (i % 7 == 0 ? 0 : 127) }
        check(t: 3, k: 64, n: 6, x: x, w: w, seed: 4)
        check(t: 3, k: 64, n: 6, x: [Int8](repeating: 0, count: 3 * 64), w: w, seed: 5)
    }

    func testGEMVAndPrefillShapes() {
        var rng = KernelRNG(seed: 6)
        check(t: 1, k: 576, n: 1536, x: rng.int8s(576), w: rng.int8s(1536 * 576), seed: 7)
        check(t: 1, k: 1536, n: 577, x: rng.int8s(1536), w: rng.int8s(577 * 1536), seed: 8)
        check(t: 33, k: 576, n: 130, x: rng.int8s(33 * 576), w: rng.int8s(130 * 576), seed: 9)
    }

    func testUnalignedPointers() {
        var rng = KernelRNG(seed: 10)
        let t = 3, k = 96, n = 9
        let xBuf = rng.int8s(t * k + 1), wBuf = rng.int8s(n * k + 3)
        var accRef = [Int32](repeating: 0, count: t * n), acc = accRef
        xBuf.withUnsafeBufferPointer { xb in
            wBuf.withUnsafeBufferPointer { wb in
                let x = xb.baseAddress! + 1, w = wb.baseAddress! + 3
                matmulInt8AccumulateReference(&accRef, x, w, rows: t, inDim: k, outDim: n)
                forEachKernelPath { path in
                    matmulInt8Accumulate(&acc, x, w, rows: t, inDim: k, outDim: n, pool: nil)
                    assertExactlyEqual(acc, accRef, "unaligned \(path)")
                }
            }
        }
    }

    func testZeroSizedCallsDoNothing() {
        var y: [Float] = [42]
        forEachKernelPath { _ in
            matmulInt8(&y, [], [], [], [], rows: 0, inDim: 32, outDim: 1, pool: nil)
            matmulInt8(&y, [], [1], [], [], rows: 1, inDim: 0, outDim: 0, pool: nil)
        }
        XCTAssertEqual(y, [42])
        var z: [Float] = [42]
        forEachKernelPath { _ in
            matmulInt8(&z, [], [2], [], [3], rows: 1, inDim: 0, outDim: 1, pool: nil)
            XCTAssertEqual(z, [0])
        }
    }

    func testDotReference() {
        let a: [Int8] = [1, -2, 3, 127, -127], b: [Int8] = [4, 5, -6, 127, 127]
        XCTAssertEqual(dotInt8Reference(a, b, 5), 4 - 10 - 18 + 16129 - 16129)
        XCTAssertEqual(dotInt8Reference(a, b, 0), 0)
    }

    func testGroupedMatchesReferenceExactly() {
        var rng = KernelRNG(seed: 11)
        for (t, k, n, g) in [(1, 64, 7, 32), (3, 576, 13, 64), (17, 1536, 5, 128), (2, 256, 9, 256)] {
            let x = rng.int8s(t * k), w = rng.int8s(n * k)
            let xs = rng.floats(t).map { abs($0) + 1e-3 }, ws = rng.floats(n * (k / g)).map { abs($0) + 1e-4 }
            var yRef = [Float](repeating: 0, count: t * n), y = yRef
            matmulInt8GroupedReference(&yRef, x, xs, w, ws, rows: t, inDim: k, outDim: n, groupSize: g)
            forEachKernelPath { path in
                for pool in kernelTestPools {
                    matmulInt8Grouped(&y, x, xs, w, ws, rows: t, inDim: k, outDim: n, groupSize: g, pool: pool)
                    assertExactlyEqual(y.map(\.bitPattern), yRef.map(\.bitPattern), "grouped \(path) T=\(t) K=\(k) G=\(g)")
                }
            }
        }
    }

    func testGroupedWithOneGroupMatchesPerChannelNumerically() {
        var rng = KernelRNG(seed: 12)
        let t = 4, k = 128, n = 6
        let x = rng.int8s(t * k), w = rng.int8s(n * k)
        let xs = rng.floats(t).map { abs($0) + 1e-3 }, ws = rng.floats(n).map { abs($0) + 1e-4 }
        var a = [Float](repeating: 0, count: t * n), b = a
        matmulInt8Grouped(&a, x, xs, w, ws, rows: t, inDim: k, outDim: n, groupSize: k, pool: nil)
        matmulInt8(&b, x, xs, w, ws, rows: t, inDim: k, outDim: n, pool: nil)
        for i in 0..<a.count { XCTAssertEqual(a[i], b[i], accuracy: abs(b[i]) * 1e-6) }
    }

    func testPathsAreDetected() {
        XCTAssertEqual(Kernels.available.prefix(2), [.reference, .portable])
        XCTAssertEqual(Kernels.active, Kernels.available.last)
        #if arch(x86_64)
        XCTAssertFalse(Kernels.available.contains(.neon))
        #endif
    }
}
