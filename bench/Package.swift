// swift-tools-version:6.1
// 6.1 is the first tools version with package traits, which ordo-one/benchmark's malloc counting needs.
import PackageDescription

/// The benchmark of issue 7, kept out of the main package so that its build and CI stay fast.
///
/// It holds the micro-benchmark of choosing a host (`SelectionBenchmark`, run with `swift package benchmark`), which
/// needs ordo-one/benchmark's malloc interposer. The load client `olla-bench` is a product of the main package.
/// SwiftPM names a package that is used by path after its folder, which is `main` here and something else in a CI
/// clone; the bench package lives in the main package's folder, so the name is that folder's.
let mainPackage = Context.packageDirectory.split(separator: "/").dropLast().last.map { $0.lowercased() } ?? "olla"

let package = Package(
    name: "olla-bench",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
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
