// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "tapctl",
    products: [
        .executable(name: "tapctl", targets: ["tapctl"]),
        .library(name: "TapCore", targets: ["TapCore"]),
    ],
    targets: [
        // ioctl request macros and struct ifreq access, which do not import into Swift.
        .target(name: "CTapShim"),
        .systemLibrary(
            name: "CLibcap",
            pkgConfig: "libcap",
            providers: [.apt(["libcap-dev"])]
        ),
        .target(name: "TapCore", dependencies: ["CTapShim", "CLibcap"]),
        .executableTarget(name: "tapctl", dependencies: ["TapCore", "CTapShim"]),
        .testTarget(name: "TapCoreTests", dependencies: ["TapCore"]),
        .testTarget(name: "tapctlTests", dependencies: ["tapctl", "TapCore"]),
        // The README's library example, built by make check and run by the
        // kernel tests: TapCore's public API only. Never installed.
        .executableTarget(name: "TapResponder", dependencies: ["TapCore"], path: "Examples/TapResponder"),
        // make bench: frames per second through TapQueue, beside scripts/framebench.c.
        .executableTarget(name: "TapBench", dependencies: ["TapCore"], path: "Examples/TapBench"),
        // Run by the kernel tests under `tapctl exec`; never installed.
        .executableTarget(name: "TapctlTestHelper", dependencies: ["TapCore", "CTapShim"], path: "Tests/Helper"),
        .testTarget(name: "KernelTests", dependencies: ["TapCore", "tapctl", "TapctlTestHelper", "TapResponder"]),
    ],
    swiftLanguageModes: [.v6]
)
