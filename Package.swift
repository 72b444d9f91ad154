// swift-tools-version: 6.1
import PackageDescription

// MARK: - Targets
//
// The layout follows the pipeline: import → model (host FP32) → runtime (device) → CLI.
// RetortRuntime has no package dependencies and no Foundation: it is what ships to a device.

let package = Package(
    name: "Retort",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "retort", targets: ["retort"]),
        .library(name: "RetortRuntime", targets: ["RetortRuntime"]),
        .library(name: "RetortImport", targets: ["RetortImport"]),
        .library(name: "RetortModel", targets: ["RetortModel"]),
        .library(name: "RetortTrain", targets: ["RetortTrain"]),
        .library(name: "RetortQuantize", targets: ["RetortQuantize"]),
        .library(name: "RetortBench", targets: ["RetortBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: System and C shims
        // Kernels in C are compiled optimized even in debug builds, so debug test runs on real
        // models stay fast; their correctness is tested against plain Swift reference kernels.
        .target(
            name: "CRetortShim",
            path: "Sources/CRetortShim",
            cSettings: [.unsafeFlags(["-O2"], .when(configuration: .debug))]
        ),
        .systemLibrary(
            name: "COpenBLAS",
            path: "Sources/COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),

        // MARK: Device runtime (dependency-free)
        .target(name: "RetortRuntime", dependencies: ["CRetortShim"]),

        // MARK: Host libraries
        .target(name: "RetortImport", dependencies: ["RetortRuntime"]),
        .target(name: "RetortModel", dependencies: ["RetortImport", "RetortRuntime", "COpenBLAS"]),
        .target(name: "RetortTrain", dependencies: ["RetortModel", "RetortImport", "RetortRuntime", "CRetortShim", "COpenBLAS"]),
        .target(name: "RetortQuantize", dependencies: ["RetortModel", "RetortRuntime"]),
        .target(name: "RetortBench", dependencies: ["RetortImport", "RetortModel", "RetortRuntime"]),

        // MARK: CLI
        .executableTarget(
            name: "retort",
            dependencies: [
                "RetortImport", "RetortModel", "RetortRuntime", "RetortTrain", "RetortQuantize", "RetortBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: Tests
        .target(
            name: "RetortTestSupport",
            dependencies: ["RetortImport", "RetortModel", "RetortRuntime"],
            path: "Tests/RetortTestSupport"
        ),
        .testTarget(name: "RetortRuntimeTests", dependencies: ["RetortRuntime", "RetortTestSupport"]),
        .testTarget(name: "RetortImportTests", dependencies: ["RetortImport", "RetortTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "RetortModelTests", dependencies: ["RetortModel", "RetortImport", "RetortTestSupport"]),
        .testTarget(name: "RetortTrainTests", dependencies: ["RetortTrain", "RetortModel", "RetortTestSupport"]),
        .testTarget(name: "RetortBenchTests", dependencies: ["RetortBench", "RetortModel", "RetortRuntime", "RetortTestSupport"]),
        .testTarget(name: "RetortQuantizeTests", dependencies: ["RetortQuantize", "RetortModel", "RetortRuntime", "RetortTestSupport"]),
    ]
)
