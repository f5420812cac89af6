// swift-tools-version:6.0
// Ranksmith: embed, rerank and search text over HTTP, and refine the
// embedding model in the background. docs/architecture.md describes the
// modules, what each owns and the dependency order: each target imports
// only targets below it, and declares exactly the targets it imports.
import PackageDescription
import Foundation

/// Kernels are written with Swift SIMD types; without a CPU level above the
/// x86-64 baseline they compile to SSE2. `x86-64-v3` (AVX2 + FMA + F16C,
/// Haswell and later) is the default; `RANKSMITH_PORTABLE=1` builds for the
/// baseline instead.
let portable = ProcessInfo.processInfo.environment["RANKSMITH_PORTABLE"] == "1"
var kernelFlags: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release)),
]
#if arch(x86_64)
if !portable {
    kernelFlags.append(.unsafeFlags(["-Xcc", "-march=x86-64-v3"]))
    kernelFlags.append(.define("RANKSMITH_AVX2"))  // quantised dot products use AVX2 intrinsics
}
#endif
let common: [SwiftSetting] = [.swiftLanguageMode(.v5)]
/// Swift 6 language mode: complete data-race checking at compile time.
let swift6: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "Ranksmith",
    platforms: [.macOS(.v15)],  // Synchronization.Mutex
    products: [
        .executable(name: "ranksmith", targets: ["ranksmith"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: - System libraries
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL"),
        // One static inline function: a cache prefetch hint for the HNSW
        // search, which Swift cannot express (see its header).
        .target(name: "CPrefetch", path: "Sources/CPrefetch"),

        // MARK: - Libraries, lowest first
        .target(name: "Numerics", dependencies: ["CBLAS", "CPrefetch"], swiftSettings: swift6 + kernelFlags),
        .target(name: "Tokenization", swiftSettings: swift6 + kernelFlags),
        .target(name: "Encoder", dependencies: ["Numerics", "Tokenization"], swiftSettings: swift6 + kernelFlags),
        .target(name: "Generator", dependencies: ["Numerics", "Tokenization"], swiftSettings: swift6 + kernelFlags),
        .target(name: "Storage", swiftSettings: swift6 + kernelFlags),
        .target(name: "Index", dependencies: ["Numerics", "Storage", "CPrefetch"], swiftSettings: swift6 + kernelFlags),
        .target(
            name: "Engine", dependencies: ["Encoder", "Index", "Numerics", "Storage", "Tokenization"],
            swiftSettings: swift6 + kernelFlags),
        .target(name: "Jobs", dependencies: ["Storage"], swiftSettings: swift6),
        .target(name: "Refinement", dependencies: ["COpenSSL", "Encoder", "Generator", "Index", "Jobs", "Numerics", "Storage", "Tokenization"], swiftSettings: swift6 + kernelFlags),
        .target(name: "HTTP", dependencies: ["CZlib", "COpenSSL"], swiftSettings: swift6 + kernelFlags),
        .target(
            name: "Service",
            dependencies: ["HTTP", "Engine", "Encoder", "Generator", "Index", "Jobs", "Numerics", "Refinement", "Storage", "Tokenization"],
            swiftSettings: swift6 + kernelFlags),

        // MARK: - Executable
        .executableTarget(
            name: "ranksmith",
            dependencies: [
                "Service", "Encoder", "Engine", "Generator", "HTTP", "Index", "Jobs", "Numerics", "Refinement", "Storage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swift6 + kernelFlags),
        // Opens a collection and upserts in a loop, printing each acknowledged
        // id; IndexTests SIGKILLs it and checks every acknowledged write.
        .executableTarget(name: "index-crash-harness", dependencies: ["Index"], swiftSettings: common),

        // MARK: - Tests
        .testTarget(name: "NumericsTests", dependencies: ["Numerics"], swiftSettings: common + kernelFlags),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization", "Numerics"], exclude: ["Fixtures"], swiftSettings: common),
        .testTarget(name: "EncoderTests", dependencies: ["Encoder", "Numerics", "Tokenization", "Refinement"], exclude: ["Fixtures"], swiftSettings: common),
        .testTarget(name: "GeneratorTests", dependencies: ["Generator", "Numerics", "Tokenization"], exclude: ["Fixtures"], swiftSettings: common + kernelFlags),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "Numerics", "TestSupport"], swiftSettings: common),
        .testTarget(name: "ServiceTests", dependencies: ["Service", "Engine", "HTTP", "Encoder", "TestSupport"], swiftSettings: common),
        .testTarget(name: "RefinementTests", dependencies: ["Refinement", "Encoder", "Generator", "Numerics", "Tokenization"], exclude: ["Fixtures"], swiftSettings: swift6),
        .testTarget(name: "IndexTests", dependencies: ["Index", "Numerics", "Storage"], swiftSettings: common + kernelFlags),
        .testTarget(name: "StorageTests", dependencies: ["Storage"], swiftSettings: swift6),
        .testTarget(name: "JobsTests", dependencies: ["Jobs", "Storage"], swiftSettings: swift6),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Encoder", "Index", "Tokenization"], swiftSettings: common),
        // A blocking HTTP client over raw sockets for the tests that talk to a real server.
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: swift6),
    ]
)
