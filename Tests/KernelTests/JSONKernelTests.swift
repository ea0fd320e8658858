import XCTest
import Foundation
import Glibc
@testable import TapCore
@testable import TapDataPath
@testable import tapctl
import SystemPackage
@testable import TapSystem

/// Every command's --json output, read by a program: each key is snake_case
/// and one the command table lists for that command (DocumentationTests holds
/// tapctl(8) to the same lists).
final class JSONKernelTests: KernelTestCase {
    /// Checks each JSON value `command` printed against its table entry.
    private func check(_ command: String, _ stdout: String, batch: Bool = false, file: StaticString = #filePath,
                       line: UInt = #line) throws -> Set<String> {
        var seen: Set<String> = []
        for text in stdout.split(separator: "\n") {
            seen.formUnion(keys(try JSONSerialization.jsonObject(with: Data(text.utf8))))
        }
        let allowed = Set((batch ? commands.flatMap(\.jsonKeys) : tableEntry(command)?.jsonKeys ?? [])
                          + failureJSONKeys)
        XCTAssertTrue(seen.isSubset(of: allowed), "\(command): keys not in its table entry: \(seen.subtracting(allowed).sorted())",
                      file: file, line: line)
        return seen
    }

    /// The keys of every object in `value`, but the names inside `ethtool`
    /// (ethtool's own feature names) and `unknown` (keys named again).
    private func keys(_ value: Any) -> Set<String> {
        if let array = value as? [Any] { return array.reduce(into: []) { $0.formUnion(keys($1)) } }
        guard let object = value as? [String: Any] else { return [] }
        var out = Set(object.keys)
        for (key, nested) in object where key != "ethtool" && key != "unknown" { out.formUnion(keys(nested)) }
        return out
    }

    func testEveryKeyFollowsTheRulesAndIsDocumented() throws {
        XCTAssertEqual(spawn(["ip", "link", "add", "br0", "type", "bridge"]).status, 0)
        defer { _ = spawn(["ip", "link", "del", "br0"]) }
        var pair: [CInt] = [-1, -1]
        XCTAssertEqual(socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0, &pair), 0)
        defer { close(pair[0]) }
        let runs: [([String], [CInt: CInt])] = [
            (["create", "tap0", "--multiqueue"], [:]), (["list"], [:]), (["show", "tap0"], [:]), (["probe"], [:]),
            (["probe", "tap0"], [:]), (["set", "tap0", "--mtu", "1400"], [:]), (["offload", "tap0", "csum"], [:]),
            (["vnet-hdr-size", "tap0", "12"], [:]), (["show", "nosuch"], [:]), (["bridge-helper", "--fd", "5"], [5: pair[1]]),
            (["dump"], [:]),
        ]
        var seen: Set<String> = []
        for (arguments, fds) in runs {
            let outcome = spawn([Self.binary, "--json"] + arguments, fds: fds)
            seen.formUnion(try check(arguments[0], outcome.stdout))
        }
        close(pair[1])
        receiveDescriptors(on: pair[0]).fds.forEach { close($0) }
        let queue = try hold("tap0", flags: [.tap, .noPI, .multiQueue])
        for arguments in [["ifname", "--fd", "3"], ["sndbuf", "--fd", "3", "65536"], ["queue", "detach", "--fd", "3"],
                          ["probe", "--fd", "3"], ["probe", "tap0"]] {
            let outcome = spawn([Self.binary, "--json"] + arguments, fds: [3: queue.descriptor.rawValue])
            seen.formUnion(try check(arguments[0], outcome.stdout))
        }
        let batch = spawn(["sh", "-c", "printf 'create tap0\\ncreate tap1\\ndelete tap1\\n' | \(Self.binary) --json --force --batch - ; true"])
        let apply = spawn(["sh", "-c", "printf 'create tap0 --multiqueue --mtu 1500\\ncreate tap5\\n' | \(Self.binary) --json apply - ; true"])
        seen.formUnion(try check("batch", batch.stdout, batch: true))
        seen.formUnion(try check("apply", apply.stdout))
        for key in seen.sorted() {
            XCTAssertNotNil(key.range(of: "^[a-z][a-z0-9]*(_[a-z0-9]+)*$", options: .regularExpression), "snake_case: \(key)")
        }
        XCTAssertTrue(seen.isSuperset(of: ["name", "detached_queues", "processes", "fds", "offloads_accepted", "unknown",
                                           "in_use", "error", "subject", "status", "line", "deleted", "applied"]), "\(seen)")
        XCTAssertGreaterThan(queue.descriptor.rawValue, 2)  // held until here
    }
}

/// The command table's entry for `name` (a parameter named `command` hides the function).
private func tableEntry(_ name: String) -> CommandSpec? { command(named: name) }
