@testable import RetortRuntime
import XCTest

/// f32 and f16-weight matmuls on every path against the scalar reference, within a named tolerance.
final class KernelFloatTests: XCTestCase {
    /// |y − ref| ≤ tolerance · Σ_k |x·w| (different summation orders and FMA; K ≤ 1536).
    static let relativeTolerance: Float = 1e-5

    private func check(_ y: [Float], _ ref: [Float], _ x: [Float], _ w: [Float], t: Int, k: Int, n: Int, _ label: String) {
        var failures = 0
        for r in 0..<t {
            for c in 0..<n {
                var magnitude: Float = 0
                for i in 0..<k { magnitude += abs(x[r * k + i] * w[c * k + i]) }
                let d = abs(y[r * n + c] - ref[r * n + c])
                if !(d <= Self.relativeTolerance * magnitude + 1e-30) {
                    failures += 1
                    if failures <= 5 { XCTFail("\(label) [\(r),\(c)] got \(y[r * n + c]) expected \(ref[r * n + c])") }
                }
            }
        }
    }

    func testF32MatchesReference() {
        var rng = KernelRNG(seed: 31)
        for (t, k, n) in [(1, 32, 1), (1, 576, 67), (1, 45, 7), (1, 5, 2), (3, 7, 5), (17, 96, 13), (4, 1536, 9), (5, 33, 10), (2, 1, 3)] {
            let x = rng.floats(t * k), w = rng.floats(n * k, scale: 0.1)
            var ref = [Float](repeating: 0, count: t * n), y = ref
            matmulF32Reference(&ref, x, w, rows: t, inDim: k, outDim: n)
            forEachKernelPath { path in
                for pool in kernelTestPools {
                    y = [Float](repeating: .nan, count: t * n)
                    matmulF32(&y, x, w, rows: t, inDim: k, outDim: n, pool: pool)
                    check(y, ref, x, w, t: t, k: k, n: n, "f32 \(path) T=\(t) K=\(k) N=\(n)")
                }
            }
        }
    }

    func testF16MatchesReference() {
        var rng = KernelRNG(seed: 32)
        for (t, k, n) in [(1, 64, 3), (1, 45, 7), (3, 7, 5), (17, 576, 13), (2, 33, 8)] {
            let x = rng.floats(t * k)
            let wh = rng.floats(n * k, scale: 0.1).map(floatToHalf)
            let w = wh.map(halfToFloat)
            var ref = [Float](repeating: 0, count: t * n), y = ref
            matmulF16Reference(&ref, x, wh, rows: t, inDim: k, outDim: n)
            var ref32 = ref
            matmulF32Reference(&ref32, x, w, rows: t, inDim: k, outDim: n)
            XCTAssertEqual(ref, ref32, "f16 reference = f32 reference on the widened weights")
            forEachKernelPath { path in
                for pool in kernelTestPools {
                    y = [Float](repeating: .nan, count: t * n)
                    matmulF16(&y, x, wh, rows: t, inDim: k, outDim: n, pool: pool)
                    check(y, ref, x, w, t: t, k: k, n: n, "f16 \(path) T=\(t) K=\(k) N=\(n)")
                }
            }
        }
    }
}
