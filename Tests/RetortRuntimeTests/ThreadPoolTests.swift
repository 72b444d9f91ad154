import Foundation
@testable import RetortRuntime
import XCTest

final class ThreadPoolTests: XCTestCase {
    /// Runs `parallelFor(count)` and returns how often each index ran.
    private static func hits(_ pool: ThreadPool, _ count: Int) -> [Int32] {
        let counts = UnsafeMutablePointer<Int32>.allocate(capacity: max(count, 1))
        counts.initialize(repeating: 0, count: max(count, 1))
        defer { counts.deallocate() }
        pool.parallelFor(count) { i in counts[i] += 1 }   // each index has its own slot
        return Array(UnsafeBufferPointer(start: counts, count: count))
    }

    func testEveryIndexRunsExactlyOnce() {
        for threads in [1, 2, 3, 4, 8] {
            let pool = ThreadPool(threads: threads)
            XCTAssertEqual(pool.threadCount, threads)
            for count in [0, 1, 2, 3, 7, 64, 1000, 100_003] {
                let h = Self.hits(pool, count)
                XCTAssertEqual(h.count, count)
                XCTAssertTrue(h.allSatisfy { $0 == 1 }, "threads=\(threads) count=\(count)")
            }
        }
    }

    func testSerialReuseManyTimesWithIdleGaps() {
        let pool = ThreadPool(threads: 3)
        for round in 0..<2000 {
            let count = 1 + round % 37
            XCTAssertTrue(Self.hits(pool, count).allSatisfy { $0 == 1 }, "round \(round)")
            if round % 500 == 0 { usleep(20_000) }   // let the workers fall asleep on the condvar
        }
    }

    func testWorkIsSharedAcrossThreads() {
        let pool = ThreadPool(threads: 2)
        var ids = [pthread_t?](repeating: nil, count: 64)
        ids.withUnsafeMutableBufferPointer { buf in
            pool.parallelFor(64) { i in
                usleep(5000)
                buf[i] = pthread_self()
            }
        }
        let distinct = Set(ids.map { UInt($0!) })
        XCTAssertEqual(distinct.count, 2, "caller and worker both take indices")
    }

    func testNestedCallsRunSerially() {
        let pool = ThreadPool(threads: 4)
        let n = 23, m = 17
        let counts = UnsafeMutablePointer<Int32>.allocate(capacity: n * m)
        counts.initialize(repeating: 0, count: n * m)
        defer { counts.deallocate() }
        pool.parallelFor(n) { i in
            pool.parallelFor(m) { j in counts[i * m + j] += 1 }
        }
        XCTAssertTrue(UnsafeBufferPointer(start: counts, count: n * m).allSatisfy { $0 == 1 })
        XCTAssertTrue(Self.hits(pool, 1000).allSatisfy { $0 == 1 }, "the pool still works after nesting")
    }

    func testConcurrentCallersFromTwoThreads() {
        let pool = ThreadPool(threads: 2)
        let group = DispatchGroup()   // test-only: drives two callers at once
        nonisolated(unsafe) let results = UnsafeMutablePointer<Bool>.allocate(capacity: 2)
        defer { results.deallocate() }
        for c in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                var ok = true
                for _ in 0..<300 { ok = ok && Self.hits(pool, 257).allSatisfy { $0 == 1 } }
                results[c] = ok
                group.leave()
            }
        }
        group.wait()
        XCTAssertTrue(results[0] && results[1])
    }

    func testParallelChunksCoverTheRangeOnceOnAlignedBoundaries() {
        for threads in [1, 2, 3] {
            let pool = ThreadPool(threads: threads)
            for (count, minChunk) in [(0, 1), (1, 4), (5, 4), (13, 4), (576, 4), (1000, 1), (49152, 16), (7, 100)] {
                let counts = UnsafeMutablePointer<Int32>.allocate(capacity: max(count, 1))
                counts.initialize(repeating: 0, count: max(count, 1))
                pool.parallelChunks(count, minChunk: minChunk) { range in
                    for i in range { counts[i] += 1 }
                    if range.lowerBound % minChunk != 0 { counts[range.lowerBound] += 100 }
                    if range.count < minChunk && range.upperBound != count { counts[range.lowerBound] += 1000 }
                }
                XCTAssertTrue(UnsafeBufferPointer(start: counts, count: count).allSatisfy { $0 == 1 },
                              "threads=\(threads) count=\(count) minChunk=\(minChunk)")
                counts.deallocate()
            }
        }
    }

    func testCreateAndDestroyManyPools() {
        for i in 0..<50 {
            let pool = ThreadPool(threads: 1 + i % 4)
            XCTAssertTrue(Self.hits(pool, 10).allSatisfy { $0 == 1 })
        }
    }
}
