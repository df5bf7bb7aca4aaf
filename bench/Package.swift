// swift-tools-version:6.1
// 6.1 is the first tools version with package traits, which ordo-one/benchmark's malloc counting needs.
import PackageDescription

/// The benchmark of issue 7, kept out of the main package so that its build and CI stay fast.
///
/// - `olla-bench`: the load client for streamed chats (`olla-bench streams`) and the report that turns a run's raw
///   measurements into the table (`olla-bench report`); `bench/run` drives both.
/// - `SelectionBenchmark`: the micro-benchmark of choosing a host, run with `swift package benchmark`.
/// SwiftPM names a package that is used by path after its folder, which is `main` here and something else in a CI
/// clone; the bench package lives in the main package's folder, so the name is that folder's.
let mainPackage = Context.packageDirectory.split(separator: "/").dropLast().last.map { $0.lowercased() } ?? "olla"

let package = Package(
    name: "olla-bench",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "olla-bench", targets: ["OllaBench"])
    ],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .executableTarget(
            name: "OllaBench",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "SelectionBenchmark",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Balancer", package: mainPackage),
            ],
            path: "Benchmarks/SelectionBenchmark",
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        ),
    ]
)
