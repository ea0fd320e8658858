import XCTest
import Foundation
import Glibc
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

final class BatchKernelTests: KernelTestCase {
    private func batch(_ text: String, _ options: [String] = []) throws -> Outcome {
        let path = "/tmp/tapctl-batch-\(getpid())"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        return spawn([Self.binary] + options + ["--batch", path])
    }

    func testAHundredLineBatch() throws {
        var lines = ["# make fifty taps, configure and list them, then remove them", ""]
        lines += (0..<50).map { "create 'vm\($0)' --multiqueue --mtu 9000" }
        lines += (0..<20).map { "set vm\($0) --up" }
        lines += ["offload vm1 csum,tso4", "show vm1", "list --json"]
        lines += (0..<25).map { "delete vm\($0 * 2) vm\($0 * 2 + 1)" }
        XCTAssertEqual(lines.count, 100)
        let outcome = try batch(lines.joined(separator: "\n"))
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        XCTAssertEqual(outcome.stderr, "")
        let output = outcome.stdout.split(separator: "\n")
        XCTAssertEqual(output.prefix(50).map(String.init), (0..<50).map { "vm\($0)" })
        XCTAssertTrue(outcome.stdout.contains(#""name":"vm49","index":"#), "list --json saw all fifty")
        XCTAssertEqual(try tunLinks(), [])
    }

    func testTheFirstFailingLineStopsTheRunWithItsNumber() throws {
        let outcome = try batch("create tap0\n\n# comment\ncreate tap0\ncreate tap1\n")
        XCTAssertEqual(outcome.status, 5)
        XCTAssertEqual(outcome.stdout, "tap0\n")
        XCTAssertEqual(outcome.stderr, "tapctl: line 4: create tap0: already exists; --exist-ok accepts an existing device of the same kind\n")
        XCTAssertEqual(try tunLinks().map(\.name), ["tap0"], "line 5 never ran")
    }

    func testForceGoesOnAndCounts() throws {
        let outcome = try batch("create tap0\ncreate 'bad name'\ncreate tap0\ncreate tap1\nexec tap1 -- true\ncreate \"x\n", ["--force"])
        XCTAssertEqual(outcome.status, 1)
        XCTAssertEqual(outcome.stdout, "tap0\ntap1\n")
        XCTAssertEqual(outcome.stderr.split(separator: "\n").map(String.init), [
            "tapctl: line 2: create bad name: the name contains white space",
            "tapctl: line 3: create tap0: already exists; --exist-ok accepts an existing device of the same kind",
            "tapctl: line 5: exec: exec replaces the process, so it cannot run in a batch",
            "tapctl: line 6: no closing \" quote (see 'tapctl --help')",
            "tapctl: batch: 4 of 6 lines failed",
        ])
    }

    func testJSONGivesOneResultALine() throws {
        let outcome = try batch("create tap0\ncreate tap0\ndelete tap0\n", ["--json", "--force"])
        XCTAssertEqual(outcome.stdout.split(separator: "\n").map(String.init), [
            #"{"name":"tap0","created":true,"changed":[]}"#,
            #"{"line":2,"command":"create","subject":"tap0","error":"already exists; --exist-ok accepts an existing device of the same kind","status":5}"#,
            #"{"deleted":["tap0"]}"#,
        ])
        XCTAssertEqual(outcome.status, 5, "one failure: its own status")
        XCTAssertEqual(outcome.stderr, "", "under --json a failure is printed once, as JSON")
    }

    func testStandardInputAndNetns() throws {
        let holder = try startNamespaceHolder()
        defer {
            kill(holder.pid, SIGKILL)
            _ = holder.wait()
        }
        let outcome = spawn(["sh", "-c", "printf 'create a0\\nlist\\n' | \(Self.binary) --netns /proc/\(holder.pid)/ns/net --batch -"])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        XCTAssertTrue(outcome.stdout.hasPrefix("a0\nNAME"), outcome.stdout)
        XCTAssertEqual(try tunLinks(), [], "made in the other namespace")
        XCTAssertEqual(try batch("--netns x list\n").stderr,
                       "tapctl: line 1: option '--netns' belongs on tapctl's command line, before --batch (see 'tapctl --help')\n")
        XCTAssertEqual(spawn([Self.binary, "--batch", "/nonexistent"]).stderr,
                       "tapctl: batch: cannot read /nonexistent: No such file or directory\n")
    }
}
