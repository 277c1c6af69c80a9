// swift-tools-version:6.1
import PackageDescription

// Coverage-guided fuzzing (libFuzzer) of everything that reads bytes from outside: line protocol v1 decoders, the
// JSON parser, stored records and histories, dates. Not part of the test suite's build (the sanitizer rebuilds
// every dependency); `scripts/fuzz.sh` builds and runs it. Crashes it finds become ordinary unit tests.
let package = Package(
    name: "TagihFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "tagih", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "TagihFuzz",
            dependencies: [
                .product(name: "TagihCore", package: "tagih"),
                .product(name: "TagihStore", package: "tagih"),
                .product(name: "TagihEngine", package: "tagih"),
            ],
            swiftSettings: [.unsafeFlags(["-sanitize=fuzzer"])],
            linkerSettings: [.unsafeFlags(["-sanitize=fuzzer", "-use-ld=lld"])]
        ),
    ]
)
