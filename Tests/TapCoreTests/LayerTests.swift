import XCTest
import Glibc
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

/// What the compiler does not check about the layers: who can raise a
/// capability, and that the libraries reach the host only through the seam.
/// (That a target imports only what it declares, the build checks:
/// make check builds with --explicit-target-dependency-import-check=error.)
final class LayerTests: XCTestCase {
    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    private func sources(under folder: String) throws -> [(path: String, text: String)] {
        let base = Self.root.appendingPathComponent(folder)
        let files = FileManager.default.enumerator(atPath: base.path)?.compactMap { $0 as? String } ?? []
        return try files.filter { $0.hasSuffix(".swift") }.sorted().map { file in
            (folder + "/" + file, try String(contentsOf: base.appendingPathComponent(file), encoding: .utf8))
        }
    }

    func testOnlyTheGateCanRaiseACapability() throws {
        let importers = try ["Sources/TapCore", "Sources/TapDataPath", "Sources/tapctl", "Examples"]
            .flatMap { try sources(under: $0) }.filter { $0.text.contains("@_spi(Gate)") }.map(\.path)
        XCTAssertEqual(importers, ["Sources/TapCore/Privilege/Gate.swift"])
    }

    func testTheLibrariesCallTheHostOnlyThroughTheSeam() throws {
        // Calls a test could not substitute, made bare rather than through
        // `system.`: each goes through SystemCalls instead.
        let direct = try NSRegularExpression(pattern: #"(?<![\w.])(?<!func )(?<!case )(open|openat|opendir|readlink|readlinkat|uname|stat|lstat|fstat|"#
            + #"cap_get_proc|cap_set_proc|getgroups|getpid|setuid|setgid|setns|ctap_setns_net|ctap_unshare_net)\((?!\))"#)
        for (path, text) in try sources(under: "Sources/TapCore") + sources(under: "Sources/TapDataPath") {
            for line in text.split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") {
                let line = String(line)
                if let match = direct.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)) {
                    XCTFail("\(path) calls \((line as NSString).substring(with: match.range)) directly")
                }
            }
        }
    }

    func testUnitTestsNeverReadTheHostsProc() throws {
        let kernel = FakeKernel()
        XCTAssertTrue(Holders.scan(system: kernel.system).isEmpty)
        XCTAssertEqual(KernelProbe(system: kernel.system).release, "6.1.0-fake")
        XCTAssertNil(KernelProbe(system: kernel.system).tunMode)
    }

    func testTheSentencesAreTheCommandLines() throws {
        for (path, text) in try sources(under: "Sources/TapCore") + sources(under: "Sources/TapDataPath") {
            XCTAssertFalse(text.contains("var message: String"), "\(path) words an error")
            XCTAssertFalse(text.contains("/etc/tapctl"), "\(path) names the access list's path, which is the caller's")
        }
    }
}
