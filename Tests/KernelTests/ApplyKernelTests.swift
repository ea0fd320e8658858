import XCTest
import Foundation
import Glibc
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

/// A host's taps as declared state: apply converges, dump prints it back.
final class ApplyKernelTests: KernelTestCase {
    override func setUpWithError() throws {
        try super.setUpWithError()
        for bridge in ["br0", "br1"] {
            _ = spawn(["ip", "link", "del", bridge])
            XCTAssertEqual(spawn(["ip", "link", "add", bridge, "type", "bridge"]).status, 0)
        }
    }

    override func tearDownWithError() throws {
        for bridge in ["br0", "br1"] { _ = spawn(["ip", "link", "del", bridge]) }
        try super.tearDownWithError()
    }

    /// Runs tapctl with `text` on standard input.
    private func withInput(_ text: String, _ arguments: [String]) throws -> Outcome {
        let path = "/tmp/tapctl-apply-\(getpid()).conf"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        return spawn([Self.binary] + arguments.map { $0 == "FILE" ? path : $0 })
    }

    private let varied = """
        # every kind: tun and tap, multiqueue, vnet-hdr, pi, owners, groups, no owner, link settings, bridge ports
        create vm0 --multiqueue --vnet-hdr --user nobody --group 4321 --up --mtu 9000 --bridge br0 --txqueuelen 2000
        create 'odd"1' --tun --pi --no-owner
        create plain0
        create port1 --vnet-hdr --group nogroup --bridge br1 --mac 02:00:00:00:00:07
        """

    /// `--check` runs apply's planning: for every scenario, what it says of
    /// each device (action, error, status) is what apply then does, and its
    /// exit status is apply's (7 where apply would change something and exit 0).
    func testCheckPredictsApplyInEveryScenario() throws {
        struct Scenario {
            let name: String
            var setup: [[String]] = []
            let file: String
            var options: [String] = []
            var prefix: [String] = []
            var holds: String?
        }
        let scenarios = [
            Scenario(name: "a missing device, and one to change", setup: [["create", "vm1"]],
                     file: "create vm0 --multiqueue\ncreate vm1 --mtu 9000\n"),
            Scenario(name: "a busy device whose group would change", setup: [["create", "vm0", "--multiqueue"]],
                     file: "create vm0 --multiqueue --group 100\n", holds: "vm0"),
            Scenario(name: "an ordinary user who cannot create", file: "create vm2\n", prefix: Self.nobody),
            Scenario(name: "an owner who may not change link settings", setup: [["create", "own0", "--user", "nobody"]],
                     file: "create own0 --user nobody --mtu 1400\n", prefix: Self.nobody),
            Scenario(name: "a bridge that does not exist yet", file: "create vm3 --bridge nosuch\ncreate vm4\n"),
            Scenario(name: "--replace of a busy device", setup: [["create", "vm5", "--multiqueue"]],
                     file: "create vm5 --tun\n", options: ["--replace"], holds: "vm5"),
            Scenario(name: "--prune with a busy device", setup: [["create", "old0", "--multiqueue"], ["create", "old1"]],
                     file: "create vm6\n", options: ["--prune", "old*"], holds: "old0"),
        ]
        for scenario in scenarios {
            try removeAllTunDevicesForScenario()
            for command in scenario.setup { XCTAssertEqual(tapctl(command).status, 0, "\(scenario.name): \(command)") }
            let held = try scenario.holds.map { try hold($0, flags: [.tap, .noPI, .multiQueue]) }
            let path = "/tmp/tapctl-scenario-\(getpid()).conf"
            try scenario.file.write(toFile: path, atomically: true, encoding: .utf8)
            XCTAssertEqual(spawn(["chmod", "644", path]).status, 0)
            defer { unlink(path) }
            let run = { (check: [String]) in spawn(scenario.prefix + [Self.binary, "apply", path, "--json"] + check + scenario.options) }
            let predicted = run(["--check"]), done = run([])
            func devices(_ outcome: Outcome) -> [String] {
                outcome.stdout.split(separator: "\n").map { line in
                    // Each device's object without its changes, which the two describe alike anyway.
                    let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
                    return "\(object["name"] ?? "?") \(object["action"] ?? "?") \(object["status"] ?? "?") \(object["error"] ?? "-")"
                }
            }
            XCTAssertEqual(devices(predicted), devices(done), scenario.name)
            XCTAssertEqual(predicted.status == 7 ? 0 : predicted.status, done.status, "\(scenario.name): \(predicted.stdout)")
            print("\(scenario.name): \(devices(done).joined(separator: "; ")), exit \(done.status)")
            _ = held
        }
    }

    private func tapctl(_ arguments: [String]) -> Outcome { spawn([Self.binary] + arguments) }

    private func removeAllTunDevicesForScenario() throws {
        for link in try tunLinks() { _ = spawn(["ip", "link", "del", link.name]) }
    }

    func testApplyOfAFreshDumpChangesNothing() throws {
        let made = try withInput(varied, ["apply", "FILE"])
        XCTAssertEqual(made.status, 0, made.stderr)
        XCTAssertEqual(made.stdout, "created vm0\ncreated odd\"1\ncreated plain0\ncreated port1\n")
        let dump = tapctl("dump")
        XCTAssertEqual(dump.status, 0, dump.stderr)
        let lines = dump.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 4)
        XCTAssertTrue(lines.contains { $0.hasPrefix("create vm0 --multiqueue --vnet-hdr --user nobody --group 4321 --up --mtu 9000 --mac ") })
        XCTAssertTrue(lines.contains("create 'odd\"1' --tun --pi --no-owner --mtu 1500 --txqueuelen 500"), dump.stdout)
        XCTAssertTrue(lines.contains { $0.contains("--bridge br1") && $0.contains("--mac 02:00:00:00:00:07") })
        let again = try withInput(dump.stdout, ["apply", "FILE"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(Set(again.stdout.split(separator: "\n")), ["unchanged vm0", "unchanged odd\"1", "unchanged plain0", "unchanged port1"])
        let check = try withInput(dump.stdout, ["apply", "--check", "FILE", "--json"])
        XCTAssertEqual(check.status, 0, "nothing to change: \(check.stdout)")
        // Every device, recreated from the dump after they are all gone, comes back the same.
        XCTAssertEqual(tapctl("delete", "--all").status, 0)
        XCTAssertEqual(try withInput(dump.stdout, ["apply", "FILE"]).status, 0)
        XCTAssertEqual(tapctl("dump").stdout, dump.stdout)
    }

    func testCheckReportsDriftAndApplyConverges() throws {
        XCTAssertEqual(try withInput(varied, ["apply", "FILE"]).status, 0)
        XCTAssertEqual(tapctl("set", "vm0", "--mtu", "1400", "--down").status, 0)
        XCTAssertEqual(tapctl("delete", "plain0").status, 0)
        let check = try withInput(varied, ["apply", "--check", "FILE"])
        XCTAssertEqual(check.status, 7, "changes are needed")
        XCTAssertEqual(check.stdout, "would change vm0: mtu 1400 -> 9000, down -> up\nunchanged odd\"1\nwould create plain0\nunchanged port1\n")
        XCTAssertNil(try link("plain0"), "--check changed nothing")
        let json = try withInput(varied, ["apply", "--check", "FILE", "--json"])
        let objects = try json.stdout.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
        XCTAssertEqual(objects.map { $0["action"] as? String }, ["changed", "unchanged", "created", "unchanged"])
        // Field by field, for programs: numbers as numbers, on and off as booleans.
        let changes = objects[0]["changes"] as? [[String: Any]] ?? []
        XCTAssertEqual(changes.map { $0["field"] as? String }, ["mtu", "up"])
        XCTAssertEqual(changes.first?["from"] as? Int, 1400)
        XCTAssertEqual(changes.first?["to"] as? Int, 9000)
        XCTAssertTrue(json.stdout.contains(#"{"field":"up","from":false,"to":true}"#), json.stdout)
        let applied = try withInput(varied, ["apply", "FILE"])
        XCTAssertEqual(applied.status, 0, applied.stderr)
        XCTAssertEqual(try ipJSON("link", "show", "dev", "vm0").first?["mtu"] as? Int, 9000)
        XCTAssertEqual(try withInput(varied, ["apply", "--check", "FILE"]).status, 0)
    }

    /// In place: owner, group, vnet_hdr and pi through a queue of an idle device;
    /// what cannot change is refused, or made again under --replace when idle.
    func testWhatChangesInPlaceAndWhatNeedsReplace() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--user", "nobody").status, 0)
        let owner = try withInput("create tap0 --user root --group 4321 --vnet-hdr --pi", ["apply", "FILE"])
        XCTAssertEqual(owner.status, 0, owner.stderr)
        XCTAssertEqual(owner.stdout, "changed tap0: owner 65534 -> 0, group none -> 4321, vnet_hdr off -> on, pi off -> on\n")
        let tun = try XCTUnwrap(try link("tap0"))
        XCTAssertEqual([tun.owner, tun.group], [0, 4321])
        XCTAssertTrue(tun.vnetHeader && tun.packetInfo)
        let hard = try withInput("create tap0 --tun --multiqueue --no-owner", ["apply", "FILE"])
        XCTAssertEqual(hard.status, 5)
        XCTAssertEqual(hard.stderr, "tapctl: apply tap0: line 1: differs where it cannot change in place: mode tap -> tun, "
                       + "multi_queue off -> on, owner 0 -> none, group 4321 -> none; --replace deletes it and makes it again, when it is idle\n")
        let queue = try hold("tap0", flags: [.tap, .vnetHdr])
        let busy = try withInput("create tap0 --tun --multiqueue --no-owner", ["apply", "--replace", "FILE"])
        XCTAssertEqual(busy.status, 6, "never replaced while held")
        let inPlace = try withInput("create tap0 --user nobody --group 4321 --vnet-hdr --pi", ["apply", "FILE"])
        XCTAssertEqual(inPlace.status, 6)
        XCTAssertEqual(inPlace.stderr, "tapctl: apply tap0: line 1: in use, and changing it would disturb its holder: owner 0 -> 65534\n")
        XCTAssertGreaterThan(queue.descriptor.rawValue, 2)  // held until here
        _ = consume queue
        let replaced = try withInput("create tap0 --tun --multiqueue --no-owner", ["apply", "--replace", "FILE"])
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        XCTAssertTrue(replaced.stdout.hasPrefix("replaced tap0: mode tap -> tun"), replaced.stdout)
        XCTAssertEqual(try link("tap0")?.mode, .tun)
    }

    /// --replace changes only what the line declares: what it leaves out
    /// (up, the address, the bridge, the queue length) the new device keeps.
    func testReplaceKeepsWhatTheLineLeavesOut() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--up", "--mac", "02:00:00:00:00:09", "--bridge", "br0", "--txqueuelen", "700").status, 0)
        let replaced = try withInput("create tap0 --multiqueue --mtu 1300 --user nobody", ["apply", "--replace", "FILE"])
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        XCTAssertEqual(replaced.stdout, "replaced tap0: multi_queue off -> on, owner 0 -> 65534, mtu 1500 -> 1300\n")
        let device = try XCTUnwrap(try anyLink("tap0"))
        XCTAssertEqual(device.tun?.multiQueue, true)
        XCTAssertEqual(device.mtu, 1300)
        XCTAssertEqual(device.address.map { MACAddress(bytes: $0).description }, "02:00:00:00:00:09")
        XCTAssertEqual(device.master, try anyLink("br0")?.index)
        XCTAssertEqual(device.txQueueLength, 700)
        XCTAssertEqual(device.flags & UInt32(IFF_UP), UInt32(IFF_UP))
    }

    /// A device that lives as long as its holder (a VM's, made by exec
    /// --create) is no declared state: dump marks it, applying that dump
    /// wants nothing made, and --prune never touches it.
    func testADeviceThatLivesWithItsHolderIsNoDeclaredState() throws {
        var request = HandoffRequest(name: try InterfaceName("vm0"))
        request.create = CreateRequest(name: try InterfaceName("vm0"))
        let handoff = try TapControl().open(request)
        let dump = tapctl("dump")
        XCTAssertEqual(dump.stdout, "# vm0 lives with its holder (not persistent): not declared state\n")
        XCTAssertEqual(try withInput(dump.stdout, ["apply", "--check", "FILE"]).status, 0, "nothing to make")
        XCTAssertTrue(tapctl("dump", "--json").stdout.contains(#""persist":false"#))
        let pruned = try withInput("", ["apply", "--prune", "vm*", "FILE"])
        XCTAssertEqual(pruned.status, 0, pruned.stderr)
        XCTAssertEqual(pruned.stdout, "", "not even considered")
        XCTAssertEqual(try tunLinks().map(\.name), ["vm0"])
        _ = handoff
    }

    /// A change that fails is undone: the device ends as it was.
    func testAFailedChangeIsUndone() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--mtu", "1400").status, 0)
        let queue = try hold("tap0")  // a held tap cannot grow its queue to 4294967295
        let failed = try withInput("create tap0 --mtu 9000 --txqueuelen 4294967295 --up", ["apply", "FILE"])
        XCTAssertEqual(failed.status, 1)
        XCTAssertTrue(failed.stderr.contains("txqueuelen 4294967295: refused by the tun driver"), failed.stderr)
        XCTAssertEqual(try ipJSON("link", "show", "dev", "tap0").first?["mtu"] as? Int, 1400, "the MTU went back")
        XCTAssertGreaterThan(queue.descriptor.rawValue, 2)  // held until here
    }

    func testPruneDeletesOnlyIdleUndeclaredMatches() throws {
        for name in ["vm0", "vm1", "vm2", "other0"] { XCTAssertEqual(tapctl("create", name).status, 0) }
        let queue = try hold("vm2")
        let pruned = try withInput("create vm0", ["apply", "--prune", "vm*", "FILE"])
        XCTAssertEqual(pruned.status, 0, "the held one, a VM's, is kept: no failure for a drift job")
        XCTAssertTrue(pruned.stdout.hasPrefix("unchanged vm0\ndeleted vm1\nkept vm2: in use by pid \(getpid())"), pruned.stdout)
        XCTAssertEqual(pruned.stderr, "")
        XCTAssertEqual(try tunLinks().map(\.name).sorted(), ["other0", "vm0", "vm2"])
        XCTAssertGreaterThan(queue.descriptor.rawValue, 2)  // held until here
    }

    /// A bridge that does not exist yet fails its device alone, with its line;
    /// the others converge (at boot, bridges may come after the taps).
    func testAMissingBridgeFailsItsDeviceAlone() throws {
        let outcome = try withInput("create a0 --bridge nobr0\ncreate a1\n", ["apply", "FILE"])
        XCTAssertEqual(outcome.status, 2)
        XCTAssertEqual(outcome.stderr, "tapctl: apply a0: line 1: no bridge named nobr0\n")
        XCTAssertEqual(outcome.stdout, "created a1\n")
        XCTAssertEqual(try tunLinks().map(\.name), ["a1"])
    }

    /// At boot: the early unit makes the devices before their bridges exist
    /// (--bridges-later), and the unit after the network joins each to its
    /// bridge as the bridge appears (--wait), here a second after it starts.
    func testBridgesThatAppearAfterTheTaps() throws {
        let file = "create vm0 --up --bridge br7\ncreate vm1\n"
        let early = try withInput(file, ["apply", "--bridges-later", "FILE"])
        XCTAssertEqual(early.status, 0, early.stderr)
        XCTAssertEqual(early.stdout, "created vm0: bridge br7 later: it does not exist yet\ncreated vm1\n")
        XCTAssertNil(try anyLink("vm0")?.master)
        let bridge = try XCTUnwrap(start(["sh", "-c", "sleep 1; ip link add br7 type bridge"]))
        defer { _ = spawn(["ip", "link", "del", "br7"]) }
        let late = try withInput(file, ["apply", "--wait", "30", "FILE"])
        XCTAssertEqual(bridge.wait().status, 0)
        XCTAssertEqual(late.status, 0, late.stderr)
        XCTAssertEqual(late.stdout, "changed vm0: bridge none -> br7\nunchanged vm1\n")
        XCTAssertEqual(try anyLink("vm0")?.master, try anyLink("br7")?.index)
        let gone = try withInput("create vm2 --bridge br8\n", ["apply", "--wait", "1", "FILE"])
        XCTAssertEqual(gone.status, 2, "a bridge that never comes fails its device when the wait is over")
        XCTAssertEqual(gone.stderr, "tapctl: apply vm2: line 1: no bridge named br8\n")
    }

    /// The whole file is checked before the first change.
    func testABadLineChangesNothing() throws {
        let cases: [(String, String)] = [
            ("create a0\ncreate a1 --user no-such-user-tapctl", "tapctl: apply: line 2: create a1: no user named 'no-such-user-tapctl'\n"),
            ("create a0\ncreate 'a%d'", "tapctl: apply: line 2: a%d is a template; a declared device needs its own name\n"),
            ("create a0\ndelete a0", "tapctl: apply: line 2: 'delete' is not create: a line declares one device\n"),
            ("create a0\ncreate a0 --tun", "tapctl: apply: line 2: a0 is declared on line 1 already\n"),
            ("create a0\ncreate a1 --mtu 50", "tapctl: apply: line 2: create a1: MTU 50 is outside 68..65521 for this tap device\n"),
            ("create a0\ncreate a1 --tun --bridge br0",
             "tapctl: apply: line 2: create a1: a tun device carries no Ethernet frames, so it cannot join a bridge\n"),
            ("create a0 --mac 52-54-00", "tapctl: apply: line 1: create a0: '52-54-00' is not a MAC address (six hex bytes joined by ':' or '-') (see 'tapctl create --help')\n"),
            ("create a0 --exist-ok", "tapctl: apply: line 1: --exist-ok has no place here: apply converges an existing device\n"),
            ("create 'a0", "tapctl: apply: line 1: no closing ' quote\n"),
        ]
        for (text, message) in cases {
            let outcome = try withInput(text, ["apply", "FILE"])
            XCTAssertEqual(outcome.status, 2, text)
            XCTAssertEqual(outcome.stderr, message, text)
            XCTAssertEqual(try tunLinks(), [], "nothing was made: \(text)")
        }
    }
}
