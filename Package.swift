// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "olla",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "olla", targets: ["App"]),
        .executable(name: "lmstudio-sim", targets: ["LMStudioSimCLI"]),
        .executable(name: "olla-bench", targets: ["OllaBench"]),
        .library(name: "Balancer", targets: ["Balancer"]),
        .library(name: "LMStudioSim", targets: ["LMStudioSim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
    ],
    targets: [
        // The core state and decisions. No networking library on purpose (DESIGN.md section 2).
        .target(
            name: "Balancer",
            dependencies: [
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .target(
            name: "Health",
            dependencies: [
                "Balancer",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "Proxy",
            dependencies: [
                "Balancer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "App",
            dependencies: [
                "Balancer",
                "Health",
                "Proxy",
                "LMStudioSim",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            // The dashboard (DESIGN.md 6.10): plain files, compiled into the binary as bytes, so olla serves them
            // from wherever it is installed, with no build step.
            resources: [
                .embedInCode("Dashboard/dashboard.html"),
                .embedInCode("Dashboard/dashboard.css"),
                .embedInCode("Dashboard/dashboard.js"),
            ]
        ),
        // The simulated LM Studio host, as a library so tests and `olla demo` start it in-process.
        .target(
            name: "LMStudioSim",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                // https hosts (LM Studio behind a TLS proxy), for the tests of olla's https forwarding.
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .executableTarget(
            name: "LMStudioSimCLI",
            dependencies: [
                "LMStudioSim",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The benchmark's load client for streamed chats and its report (bench/run drives both). Here rather than
        // in bench/'s package so that CI builds it with everything else instead of a second copy of SwiftNIO.
        .executableTarget(
            name: "OllaBench",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "BalancerTests", dependencies: ["Balancer"]),
        .testTarget(name: "HealthTests", dependencies: ["Health", "Balancer", "LMStudioSim"]),
        .testTarget(name: "LMStudioSimTests", dependencies: ["LMStudioSim"]),
        .testTarget(
            name: "ProxyTests",
            dependencies: [
                "Proxy", "Balancer", "LMStudioSim",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "AppTests",
            dependencies: [
                "App", "Balancer", "Proxy", "Health", "LMStudioSim",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            // A certificate and key for https hosts on 127.0.0.1, read from their path by the tests.
            exclude: ["Fixtures"]
        ),
    ]
)
