import CRetortShim

/// An implementation family for the compute kernels. Every family computes the same int8 results
/// bit for bit; float matmuls agree within rounding (summation order differs).
public enum KernelPath: Sendable, Equatable {
    /// Plain scalar loops: the truth every other path is tested against.
    case reference
    /// Swift SIMD types only; compiles everywhere (the fallback on CPUs without the paths below).
    case portable
    /// x86-64 AVX2 + FMA + F16C micro-kernels in C (`retort_kernels_x86.c`).
    case avx2
    /// aarch64 NEON with SDOT (ARMv8.2 dotprod) int8 kernels in C; f32 on the portable path.
    case neonDot
    /// aarch64 NEON without SDOT (`smull`/`sadalp` int8 kernels in C); f32 on the portable path.
    case neon
}

/// Which kernel path runs. Detected once from the CPU; tests and benchmarks may force another.
public enum Kernels {
    /// The paths this build can run on this CPU, slowest first (the last one is the default).
    public static var available: [KernelPath] { detected }

    /// The path the kernels use now.
    public static var active: KernelPath { forced ?? detected[detected.count - 1] }

    /// Makes every kernel use `path` (for tests and benchmarks; not thread-safe against running
    /// kernels). `path` must be in `available`.
    public static func force(_ path: KernelPath) {
        precondition(detected.contains(path), "Kernels.force: path not available on this CPU")
        forced = path
    }

    /// Returns to the detected default.
    public static func reset() { forced = nil }

    nonisolated(unsafe) private static var forced: KernelPath?

    private static let detected: [KernelPath] = {
        var paths: [KernelPath] = [.reference, .portable]
        #if arch(x86_64)
        if retort_cpu_has_avx2_fma() != 0 { paths.append(.avx2) }
        #elseif arch(arm64)
        if retort_cpu_has_neon() != 0 { paths.append(.neon) }
        if retort_cpu_has_neon_dot() != 0 { paths.append(.neonDot) }
        #endif
        return paths
    }()
}
