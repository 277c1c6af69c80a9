// swift-tools-version:6.1
import PackageDescription

let upcoming: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "tagih",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tagih", targets: ["tagih"]),
        .library(name: "TagihCore", targets: ["TagihCore"]),
        .library(name: "TagihStore", targets: ["TagihStore"]),
        .library(name: "TagihEngine", targets: ["TagihEngine"]),
        .library(name: "TagihHTTP2", targets: ["TagihHTTP2"]),
        .library(name: "TagihService", targets: ["TagihService"]),
        .library(name: "TagihSim", targets: ["TagihSim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CNGHTTP2",
            pkgConfig: "libnghttp2",
            providers: [.apt(["libnghttp2-dev"])]
        ),
        .target(
            name: "TagihCore",
            dependencies: [],
            resources: [.copy("Resources")],
            swiftSettings: upcoming
        ),
        .target(
            name: "TagihStore",
            dependencies: [
                "TagihCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "TagihEngine",
            dependencies: [
                "TagihCore",
                "TagihStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "TagihHTTP2",
            dependencies: [
                "CNGHTTP2",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "TagihService",
            dependencies: [
                "TagihCore",
                "TagihEngine",
                "TagihStore",
                "TagihHTTP2",
                "TagihSim",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "TagihSim",
            dependencies: [
                "TagihCore", "TagihEngine", "TagihStore", .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "tagih-crashtest",
            dependencies: ["TagihCore", "TagihStore", "TagihEngine"],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "tagih",
            dependencies: [
                "TagihCore",
                "TagihStore",
                "TagihEngine",
                "TagihHTTP2",
                "TagihService",
                "TagihSim",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(name: "TagihCoreTests", dependencies: ["TagihCore"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "TagihStoreTests",
            dependencies: ["TagihStore", "TagihCore", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(
            name: "TagihEngineTests", dependencies: ["TagihEngine", "TagihStore", "TagihCore", "tagih-crashtest"]),
        .testTarget(
            name: "TagihHTTP2Tests",
            dependencies: [
                "TagihHTTP2",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Clients")]
        ),
        .testTarget(
            name: "TagihServiceTests",
            dependencies: ["TagihService", "TagihHTTP2", "TagihEngine", "TagihCore"]
        ),
        .testTarget(name: "TagihSimTests", dependencies: ["TagihSim", "TagihEngine", "TagihCore"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["TagihHTTP2", "TagihService", "TagihCore"],
            resources: [.copy("Clients")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
