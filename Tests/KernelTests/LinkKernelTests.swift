import XCTest
import Foundation
import Glibc
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

final class LinkKernelTests: KernelTestCase {
    override func setUpWithError() throws {
        try super.setUpWithError()
        _ = spawn(["ip", "link", "del", "br0"])
        XCTAssertEqual(spawn(["ip", "link", "add", "br0", "type", "bridge"]).status, 0)
    }

    override func tearDownWithError() throws {
        _ = spawn(["ip", "link", "del", "br0"])
        try super.tearDownWithError()
    }

    private func ipLink(_ name: String) throws -> [String: Any] {
        try XCTUnwrap(try ipJSON("link", "show", "dev", name).first)
    }

    func testCreateDoesTheWholeJobInOneCall() throws {
        let outcome = tapctl("create", "tap0", "--multiqueue", "--up", "--mtu", "9000", "--bridge", "br0", "--mac", "random",
                             "--txqueuelen", "2000")
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        let link = try ipLink("tap0")
        XCTAssertEqual(link["mtu"] as? Int, 9000)
        XCTAssertEqual(link["master"] as? String, "br0")
        XCTAssertEqual(link["txqlen"] as? Int, 2000)
        XCTAssertTrue((link["flags"] as? [String] ?? []).contains("UP"))
        let address = try XCTUnwrap(link["address"] as? String)
        let first = try XCTUnwrap(UInt8(address.prefix(2), radix: 16))
        XCTAssertEqual(first & 0x03, 0x02, "locally administered unicast: \(address)")
        let info = try ipTunInfo("tap0")
        XCTAssertEqual(info["multi_queue"] as? Bool, true)
        XCTAssertEqual(info["persist"] as? Bool, true)
    }

    func testSetChangesEachSettingAndDetachesFromTheBridge() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--bridge", "br0").status, 0)
        let outcome = tapctl("set", "tap0", "--mtu", "1400", "--mac", "02:11:22:33:44:55", "--txqueuelen", "700",
                             "--nobridge", "--up", "--json")
        XCTAssertEqual(outcome.stdout,
                       #"{"name":"tap0","applied":["nobridge","mtu 1400","mac 02:11:22:33:44:55","txqueuelen 700","up"]}"# + "\n")
        var link = try ipLink("tap0")
        XCTAssertEqual(link["mtu"] as? Int, 1400)
        XCTAssertEqual(link["address"] as? String, "02:11:22:33:44:55")
        XCTAssertEqual(link["txqlen"] as? Int, 700)
        XCTAssertNil(link["master"])
        XCTAssertTrue((link["flags"] as? [String] ?? []).contains("UP"))
        XCTAssertEqual(tapctl("set", "tap0", "--down", "--bridge", "br0").status, 0)
        link = try ipLink("tap0")
        XCTAssertEqual(link["master"] as? String, "br0")
        XCTAssertFalse((link["flags"] as? [String] ?? []).contains("UP"))
    }

    /// A device in use is changed through its holder's queue, by index.
    func testSetThroughAHeldQueue() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--multiqueue").status, 0)
        let queue = try hold("tap0", flags: [.tap, .noPI, .multiQueue])
        let outcome = tapctl("set", "--fd", "3", "--mtu", "1400", "--json", fds: [3: queue.descriptor.rawValue])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        XCTAssertEqual(outcome.stdout, #"{"name":"tap0","applied":["mtu 1400"]}"# + "\n")
        XCTAssertEqual(try ipLink("tap0")["mtu"] as? Int, 1400)
        XCTAssertEqual(tapctl("set", "tap0", "--fd", "3", "--up").stderr,
                       "tapctl: set fd 3: give a device NAME or --fd N, not both (see 'tapctl set --help')\n")
    }

    func testBadValuesAreUsageErrorsAndChangeNothing() throws {
        XCTAssertEqual(spawn(["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"]).status, 0)
        defer { _ = spawn(["ip", "link", "del", "v0"]) }
        // The form of a value is in --help; what the kernel has (limits, bridges) is not.
        let cases: [([String], String, Bool)] = [
            (["--mtu", "67"], "MTU 67 is outside 68..65521 for this tap device", false),
            (["--mtu", "65522"], "MTU 65522 is outside 68..65521 for this tap device", false),
            (["--mac", "01:00:5e:00:00:01"], "01:00:5e:00:00:01 is a multicast address; a device needs a unicast one", true),
            (["--mac", "00:00:00:00:00:00"], "00:00:00:00:00:00 cannot be a device's address", true),
            (["--mac", "02:00:00:00:00"], "'02:00:00:00:00' is not a MAC address (six hex bytes joined by ':' or '-')", true),
            (["--bridge", "nobr0"], "no bridge named nobr0", false),
            (["--bridge", "v0"], "v0 is not a bridge (it is a veth device)", false),
        ]
        for (options, message, help) in cases {
            let create = spawn([Self.binary, "create", "tap0"] + options)
            XCTAssertEqual(create.status, 2, "\(options)")
            XCTAssertEqual(create.stderr, "tapctl: create tap0: \(message)" + (help ? " (see 'tapctl create --help')" : "") + "\n")
        }
        XCTAssertEqual(try tunLinks(), [], "no device was made")
        XCTAssertEqual(tapctl("create", "tun0", "--tun", "--mac", "random").stderr,
                       "tapctl: create tun0: a tun device has no MAC address\n")
        XCTAssertEqual(tapctl("create", "tun0", "--tun", "--mtu", "65535").status, 0, "a tun's MTU goes to 65535")
        XCTAssertEqual(tapctl("create", "tap0", "--mtu", "1400").status, 0)
        for (options, message, help) in cases {
            let set = spawn([Self.binary, "set", "tap0"] + options)
            XCTAssertEqual(set.status, 2, "\(options)")
            XCTAssertEqual(set.stderr, "tapctl: set tap0: \(message)" + (help ? " (see 'tapctl set --help')" : "") + "\n")
        }
        XCTAssertEqual(try ipLink("tap0")["mtu"] as? Int, 1400, "unchanged")
    }

    /// tun cannot resize its queues' rings to an absurd length while a queue is
    /// attached: a real refusal after other settings went through.
    func testCreateRemovesTheDeviceWhenASettingFailsAndSetSaysWhatItApplied() throws {
        let create = tapctl("create", "tap0", "--mtu", "9000", "--txqueuelen", "4294967295")
        XCTAssertEqual(create.status, 1)
        XCTAssertEqual(create.stderr, "tapctl: create tap0: txqueuelen 4294967295: refused by the tun driver "
                       + "(it could not allocate a queue that long); nothing was changed\n")
        XCTAssertEqual(try tunLinks(), [], "the half-made device is gone")
        XCTAssertEqual(tapctl("create", "tap0").status, 0)
        let queue = try hold("tap0")
        let set = tapctl("set", "tap0", "--mtu", "1400", "--txqueuelen", "4294967295", "--up")
        XCTAssertEqual(set.status, 1)
        XCTAssertEqual(set.stderr, "tapctl: set tap0: txqueuelen 4294967295: refused by the tun driver "
                       + "(it could not allocate a queue that long); applied before it: mtu 1400\n")
        XCTAssertEqual(try ipLink("tap0")["mtu"] as? Int, 1400)
        XCTAssertGreaterThan(queue.descriptor.rawValue, 2)
        let unprivileged = tapctl("set", "tap0", "--mtu", "1500", prefix: Self.withoutNetAdmin)
        XCTAssertEqual(unprivileged.status, 3)
        XCTAssertEqual(unprivileged.stderr, "tapctl: set tap0: mtu 1500: needs CAP_NET_ADMIN; nothing was changed\n")
    }

    func testNetnsByPathAndByName() throws {
        let holder = try startNamespaceHolder()
        defer {
            kill(holder.pid, SIGKILL)
            _ = holder.wait()
        }
        let path = "/proc/\(holder.pid)/ns/net"
        XCTAssertEqual(tapctl("--netns", path, "create", "inner0").stdout, "inner0\n")
        XCTAssertEqual(try tunLinks(), [], "not in this namespace")
        XCTAssertTrue(tapctl("-n", path, "list").stdout.contains("inner0"))
        let child = tapctl("--netns", path, "exec", "inner0", "--", ExecKernelTests.helper, "report")
        XCTAssertTrue(child.stdout.contains(#""3":"inner0""#), child.stdout + child.stderr)
        XCTAssertEqual(tapctl("--netns=\(path)", "delete", "inner0").status, 0)

        let name = "tapctl-test-\(getpid())"
        XCTAssertEqual(spawn(["ip", "netns", "add", name]).status, 0)
        defer { _ = spawn(["ip", "netns", "del", name]) }
        XCTAssertEqual(tapctl("--netns", name, "create", "named0").status, 0)
        XCTAssertEqual(spawn(["ip", "-n", name, "link", "show", "named0"]).status, 0)
        XCTAssertEqual(tapctl("--netns", "no-such-ns", "list").stderr,
                       "tapctl: list: no network namespace no-such-ns (/run/netns/no-such-ns does not exist)\n")
        XCTAssertEqual(tapctl("--netns", "/etc/hostname", "list").stderr, "tapctl: list: /etc/hostname is not a network namespace\n")
    }

    func testBulkDeleteOfAThousandTaps() throws {
        let batch = (0..<1000).map { "tuntap add dev bulk\($0) mode tap" }.joined(separator: "\n")
        let file = "/tmp/tapctl-bulk-\(getpid())"
        try batch.write(toFile: file, atomically: true, encoding: .utf8)
        defer { unlink(file) }
        XCTAssertEqual(spawn(["ip", "-batch", file]).status, 0)
        XCTAssertEqual(tapctl("create", "keep0").status, 0)
        XCTAssertEqual(try tunLinks().count, 1001)
        let started = Date()
        let outcome = tapctl("delete", "--match", "bulk*")
        let elapsed = Date().timeIntervalSince(started)
        print("bulk delete of 1000 taps: \(String(format: "%.3f", elapsed)) s")
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        XCTAssertEqual(try tunLinks().map(\.name), ["keep0"])
        XCTAssertEqual(tapctl("delete", "--all", "--json").stdout, #"{"deleted":["keep0"]}"# + "\n")
    }

    func testBulkDeleteRefusesWhenOneIsHeld() throws {
        for name in ["a0", "a1", "a2"] { XCTAssertEqual(tapctl("create", name).status, 0) }
        let queue = try hold("a1")
        let outcome = tapctl("delete", "--all")
        XCTAssertEqual(outcome.status, 6)
        XCTAssertTrue(outcome.stderr.hasPrefix("tapctl: delete a1: in use by pid \(getpid())"), outcome.stderr)
        XCTAssertEqual(try tunLinks().count, 3, "nothing removed")
        XCTAssertEqual(tapctl("delete", "--all", "x").status, 2)
        XCTAssertEqual(tapctl("delete").stderr, "tapctl: delete: missing NAME, --all or --match (see 'tapctl delete --help')\n")
        XCTAssertGreaterThan(queue.descriptor.rawValue, 2)
    }
}
