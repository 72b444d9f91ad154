import ArgumentParser
import Foundation
import RetortRuntime

/// `retort bench-kernels`: throughput of RetortRuntime's matmul kernels per path and thread count.
struct BenchKernels: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-kernels",
        abstract: "Benchmark the runtime's int8 and f32 matmul kernels.",
        discussion: """
        Shapes are SmolLM2-135M's: K=576/1536 inputs, N=576/1536/49152 outputs, T=1 (decode GEMV) \
        and T=128/512 (prefill). GOPS counts a multiply-add as 2 ops. "%peak" is relative to ONE \
        core's AVX2 int8 peak, 32 multiply-adds per cycle × the clock from /proc/cpuinfo (so two \
        threads can exceed 100%). Times are medians of --reps runs after one warm-up; int8 timings \
        exclude activation quantization (listed separately as "quant"). "best GOPS" is the fastest rep         (useful on a shared machine).
        """)

    @Option(name: .long, help: "Repetitions per measurement (median reported).")
    var reps = 5

    @Option(name: .long, help: "Comma-separated thread counts.")
    var threads = "1,2"

    @Option(name: .long, help: "Comma-separated kernel paths (default: every available path but reference).")
    var paths: String?

    @Option(name: .long, help: "Comma-separated kernels: int8, int8g64 (per-group scales, 64 inputs a group), f32.")
    var kernels = "int8,f32"

    @Flag(name: .long, help: "Only the GEMV and the two smallest prefill shapes.")
    var quick = false

    func validate() throws {
        guard reps >= 1 && reps <= 1000 else { throw ValidationError("--reps must be in 1...1000") }
        guard !threadCounts.isEmpty, threadCounts.allSatisfy({ (1...64).contains($0) }) else {
            throw ValidationError("--threads: comma-separated counts in 1...64")
        }
        guard (try? selectedPaths()) != nil else {
            throw ValidationError("--paths: choose from \(Kernels.available.map(String.init(describing:)).joined(separator: ","))")
        }
        guard kernelNames.allSatisfy({ ["int8", "int8g64", "f32"].contains($0) }) else { throw ValidationError("--kernels: int8, int8g64, f32") }
    }

    private var threadCounts: [Int] { threads.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
    private var kernelNames: [String] { kernels.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }

    private struct UnknownPath: Error {}

    private func selectedPaths() throws -> [KernelPath] {
        guard let paths else { return Kernels.available.filter { $0 != .reference } }
        return try paths.split(separator: ",").map { name in
            guard let p = Kernels.available.first(where: { String(describing: $0) == name.trimmingCharacters(in: .whitespaces) })
            else { throw UnknownPath() }
            return p
        }
    }

    /// (T, K, N): decode GEMV, then the prefill shapes of SmolLM2-135M's projections.
    private var shapes: [(t: Int, k: Int, n: Int)] {
        let prefill = [(576, 576), (576, 1536), (1536, 576), (576, 49152)]
        var s: [(t: Int, k: Int, n: Int)] = [(1, 4096, 4096), (1, 576, 1536)]
        for t in [128, 512] { for (k, n) in prefill { s.append((t, k, n)) } }
        return quick ? Array(s.prefix(4)) : s
    }

    func run() throws {
        let mhz = Self.cpuMHz()
        let peakGOPS = 2 * 32 * mhz / 1000  // one core, ops = 2 × multiply-adds
        emit("clock: \(mhz > 0 ? String(format: "%.0f MHz (/proc/cpuinfo cpu MHz)", mhz) : "unknown")"
              + "; one-core AVX2 int8 peak = 32 MAC/cycle = \(String(format: "%.1f", peakGOPS)) GOPS; reps=\(reps) (median)")
        emit("paths available: \(Kernels.available.map(String.init(describing:)).joined(separator: ", ")); default: \(Kernels.active)")
        emit(pad("kernel", 6) + pad("path", 9) + pad("thr", 4) + pad("T", 5) + pad("K", 6) + pad("N", 7)
              + pad("ms", 10) + pad("GOPS", 9) + pad("%peak", 7) + pad("best GOPS", 10) + pad("quant ms", 9))
        let paths = try selectedPaths()
        defer { Kernels.reset() }
        for kernel in kernelNames {
            for path in paths {
                Kernels.force(path)
                for threadCount in threadCounts {
                    let pool = threadCount > 1 ? ThreadPool(threads: threadCount) : nil
                    for shape in shapes {
                        if kernel == "f32" && shape.t == 1 && shape.k == 4096 { continue }
                        let r = kernel == "f32" ? benchF32(shape, pool) : benchInt8(shape, pool, groupSize: kernel == "int8g64" ? 64 : nil)
                        let ops = 2 * Double(shape.t * shape.k * shape.n)
                        let gops = ops / r.seconds / 1e9, bestGOPS = ops / r.best / 1e9
                        let percent = kernel != "f32" && peakGOPS > 0 ? String(format: "%.0f%%", 100 * gops / peakGOPS) : "-"
                        emit(pad(kernel, 6) + pad("\(path)", 9) + pad("\(threadCount)", 4) + pad("\(shape.t)", 5)
                              + pad("\(shape.k)", 6) + pad("\(shape.n)", 7) + pad(String(format: "%.3f", r.seconds * 1e3), 10)
                              + pad(String(format: "%.1f", gops), 9) + pad(percent, 7)
                              + pad(String(format: "%.1f", bestGOPS), 10)
                              + pad(r.quantize.map { String(format: "%.3f", $0 * 1e3) } ?? "-", 9))
                    }
                }
            }
        }
    }

    // MARK: - Measurements

    private func benchInt8(_ s: (t: Int, k: Int, n: Int), _ pool: ThreadPool?, groupSize: Int?) -> (seconds: Double, best: Double, quantize: Double?) {
        var rng = BenchRNG()
        let x = (0..<(s.t * s.k)).map { _ in Float.random(in: -1...1, using: &rng) }
        let w = (0..<(s.n * s.k)).map { _ in Int8.random(in: -127...127, using: &rng) }
        let ws = [Float](repeating: 0.01, count: s.n * (groupSize.map { s.k / $0 } ?? 1))
        var xq = [Int8](repeating: 0, count: s.t * s.k), xs = [Float](repeating: 0, count: s.t)
        var y = [Float](repeating: 0, count: s.t * s.n)
        let quantize = median { quantizeRowsInt8(&xq, &xs, x, rows: s.t, cols: s.k) }
        let times = median {
            if let groupSize {
                matmulInt8Grouped(&y, xq, xs, w, ws, rows: s.t, inDim: s.k, outDim: s.n, groupSize: groupSize, pool: pool)
            } else {
                matmulInt8(&y, xq, xs, w, ws, rows: s.t, inDim: s.k, outDim: s.n, pool: pool)
            }
        }
        return (times.median, times.best, quantize.median)
    }

    private func benchF32(_ s: (t: Int, k: Int, n: Int), _ pool: ThreadPool?) -> (seconds: Double, best: Double, quantize: Double?) {
        var rng = BenchRNG()
        let x = (0..<(s.t * s.k)).map { _ in Float.random(in: -1...1, using: &rng) }
        let w = (0..<(s.n * s.k)).map { _ in Float.random(in: -0.1...0.1, using: &rng) }
        var y = [Float](repeating: 0, count: s.t * s.n)
        let times = median { matmulF32(&y, x, w, rows: s.t, inDim: s.k, outDim: s.n, pool: pool) }
        return (times.median, times.best, nil)
    }

    /// Median and best wall time of `reps` runs after one warm-up run.
    private func median(_ body: () -> Void) -> (median: Double, best: Double) {
        body()
        var times: [Double] = []
        for _ in 0..<reps {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        times.sort()
        return (times[times.count / 2], times[0])
    }

    /// Prints one line unbuffered (results appear as they are measured, even through a pipe).
    private func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }

    /// First "cpu MHz" line of /proc/cpuinfo, or 0.
    static func cpuMHz() -> Double {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return 0 }
        for line in info.split(separator: "\n") where line.hasPrefix("cpu MHz") {
            if let value = line.split(separator: ":").last.flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }) {
                return value
            }
        }
        return 0
    }
}

/// Fixed-seed SplitMix64 (the system generator costs a syscall per number).
private struct BenchRNG: RandomNumberGenerator {
    var state: UInt64 = 0x5EED

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
