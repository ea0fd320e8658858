// swift-tools-version:6.0
import PackageDescription

// Layers, each depending only on those below it (make checks this with
// --explicit-target-dependency-import-check=error):
//   tapctl       the command line: argv, words, sentences, exit statuses
//   TapCore      administration: operations, apply, the privilege gate
//   TapDataPath  what a VMM holds: queues, headers, offloads, a received handoff
//   TapSystem    every system call, behind a seam tests substitute
//   CTapShim, CLibcap, SystemPackage
let package = Package(
    name: "tapctl",
    products: [
        .executable(name: "tapctl", targets: ["tapctl"]),
        .library(name: "TapDataPath", targets: ["TapDataPath"]),
        .library(name: "TapCore", targets: ["TapCore"]),
    ],
    dependencies: [
        // FileDescriptor and Errno: the types a Swift program on Linux already
        // speaks in, so the libraries' descriptors and errors are those.
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        // `make docs`: DocC for the two library products.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // ioctl request macros and struct ifreq access, which do not import into Swift.
        .target(name: "CTapShim"),
        .systemLibrary(
            name: "CLibcap",
            pkgConfig: "libcap",
            providers: [.apt(["libcap-dev"])]
        ),
        .target(name: "TapSystem", dependencies: [
            "CTapShim", "CLibcap", .product(name: "SystemPackage", package: "swift-system"),
        ]),
        .target(name: "TapDataPath", dependencies: [
            "TapSystem", "CTapShim", .product(name: "SystemPackage", package: "swift-system"),
        ]),
        .target(name: "TapCore", dependencies: [
            "TapDataPath", "TapSystem", "CTapShim", "CLibcap", .product(name: "SystemPackage", package: "swift-system"),
        ]),
        // argv as the kernel passed it, saved before main: the command line's alone.
        .target(name: "CTapctlMain"),
        .executableTarget(name: "tapctl", dependencies: [
            "TapCore", "TapDataPath", "TapSystem", "CTapctlMain", .product(name: "SystemPackage", package: "swift-system"),
        ]),
        // The libraries' tests; tapctl's words for their errors are checked beside them.
        .testTarget(name: "TapCoreTests", dependencies: [
            "tapctl", "TapCore", "TapDataPath", "TapSystem", "CTapShim", .product(name: "SystemPackage", package: "swift-system"),
        ]),
        .testTarget(name: "tapctlTests", dependencies: [
            "tapctl", "TapCore", "TapDataPath", "TapSystem", .product(name: "SystemPackage", package: "swift-system"),
        ]),
        // The README's library example, built by make check and run by the
        // kernel tests: the products' public API only. Never installed.
        .executableTarget(name: "TapResponder", dependencies: [
            "TapCore", "TapDataPath", .product(name: "SystemPackage", package: "swift-system"),
        ], path: "Examples/TapResponder"),
        // make bench: frames per second through TapQueue, beside scripts/framebench.c.
        .executableTarget(name: "TapBench", dependencies: [
            "TapDataPath", "TapCore", .product(name: "SystemPackage", package: "swift-system"),
        ], path: "Examples/TapBench"),
        // Run by the kernel tests under `tapctl exec`; never installed.
        .executableTarget(name: "TapctlTestHelper", dependencies: [
            "TapCore", "TapDataPath", "TapSystem", "CTapShim", .product(name: "SystemPackage", package: "swift-system"),
        ], path: "Tests/Helper"),
        .testTarget(name: "KernelTests", dependencies: [
            "TapCore", "TapDataPath", "TapSystem", "tapctl", "TapctlTestHelper", "TapResponder",
            .product(name: "SystemPackage", package: "swift-system"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
