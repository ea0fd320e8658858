import XCTest
import Foundation
import Glibc
@testable import TapCore

/// Every command's --json output, read by a program: each key follows the
/// rules of README.md's JSON section and is named there.
final class JSONKernelTests: KernelTestCase {
    private func readmeJSONSection() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let start = try XCTUnwrap(readme.range(of: "## JSON\n"))
        let end = try XCTUnwrap(readme.range(of: "## Errors and exit status"))
        return String(readme[start.upperBound..<end.lowerBound])
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
            seen.formUnion(keys(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8))))
        }
        close(pair[1])
        receiveDescriptors(on: pair[0]).fds.forEach { close($0) }
        let queue = try hold("tap0", flags: [.tap, .noPI, .multiQueue])
        for arguments in [["ifname", "--fd", "3"], ["sndbuf", "--fd", "3", "65536"], ["queue", "detach", "--fd", "3"],
                          ["probe", "--fd", "3"], ["probe", "tap0"]] {
            let outcome = spawn([Self.binary, "--json"] + arguments, fds: [3: queue.descriptor.rawValue])
            seen.formUnion(keys(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8))))
        }
        let batch = spawn(["sh", "-c", "printf 'create tap0\\ncreate tap1\\ndelete tap1\\n' | \(Self.binary) --json --force --batch - ; true"])
        let apply = spawn(["sh", "-c", "printf 'create tap0 --multiqueue --mtu 1500\\ncreate tap5\\n' | \(Self.binary) --json apply - ; true"])
        for line in (batch.stdout + apply.stdout).split(separator: "\n") {
            seen.formUnion(keys(try JSONSerialization.jsonObject(with: Data(line.utf8))))
        }
        let documented = try readmeJSONSection()
        for key in seen.sorted() {
            XCTAssertNotNil(key.range(of: "^[a-z][a-z0-9]*(_[a-z0-9]+)*$", options: .regularExpression), "snake_case: \(key)")
            XCTAssertTrue(documented.contains("`\(key)`"), "README's JSON section lacks `\(key)`")
        }
        XCTAssertTrue(seen.isSuperset(of: ["name", "detached_queues", "processes", "fds", "offloads_accepted", "unknown",
                                           "in_use", "error", "subject", "status", "line", "deleted", "applied"]), "\(seen)")
        XCTAssertGreaterThan(queue.descriptor.rawValue, 2)  // held until here
    }
}
