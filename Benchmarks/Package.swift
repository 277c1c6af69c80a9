// swift-tools-version:6.1
import PackageDescription

let benchmarkDependencies: [Target.Dependency] = [.product(name: "Benchmark", package: "benchmark")]

let package = Package(
    name: "TagihBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "tagih", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "TransportBenchmarks",
            dependencies: benchmarkDependencies + [.product(name: "TagihHTTP2", package: "tagih")],
            path: "Benchmarks/TransportBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "DecisionBenchmarks",
            dependencies: benchmarkDependencies + [.product(name: "TagihCore", package: "tagih")],
            path: "Benchmarks/DecisionBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "EngineBenchmarks",
            dependencies: benchmarkDependencies + [
                .product(name: "TagihEngine", package: "tagih"),
                .product(name: "TagihStore", package: "tagih"),
                .product(name: "TagihCore", package: "tagih"),
            ],
            path: "Benchmarks/EngineBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
