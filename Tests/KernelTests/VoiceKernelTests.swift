import XCTest
import Foundation
import Glibc
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

/// What a newcomer and a script author meet: exit statuses as the table says,
/// and an ordinary user told what to do rather than only what failed.
final class VoiceKernelTests: KernelTestCase {
    /// Runs `arguments` as uid 65534 with /dev/net/tun replaced, in a private
    /// mount namespace, by a node of `mode` (this host's is 0600, Debian's 0666).
    private func asNobody(_ arguments: [String], tunMode: String) -> Outcome {
        let scratch = "/tmp/tapctl-voice-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { _ = spawn(["rm", "-rf", scratch]) }
        return spawn(privateTunCommand(arguments, tunMode: tunMode, setpriv: ["--reuid=65534", "--regid=65534", "--clear-groups"],
                                       scratch: scratch))
    }

    func testExitStatusesFollowTheTable() throws {
        XCTAssertEqual(tapctl("delete", "lo").status, 4, "not a tun/tap device")
        XCTAssertEqual(tapctl("ifname", "--fd", "0").status, 4, "not a tun/tap queue")
        let netns = tapctl("--netns", "nosuch", "list")
        XCTAssertEqual(netns.status, 4)
        XCTAssertEqual(netns.stderr, "tapctl: list: no network namespace nosuch (/run/netns/nosuch does not exist)\n")
        let all = tapctl("delete", "--all", "--json")
        XCTAssertEqual(all.status, 0, "all of none")
        XCTAssertEqual(all.stdout, #"{"deleted":[]}"# + "\n")
        let match = tapctl("delete", "--match", "zz*")
        XCTAssertEqual(match.status, 4, "a pattern that matches nothing is likely a typo")
        XCTAssertEqual(match.stderr, "tapctl: delete: no tun/tap device matches 'zz*'\n")
        XCTAssertEqual(tapctl("delete", "--match", "zz*", "--missing-ok").status, 0)
        let help = tapctl("help", "--help")
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.hasPrefix("Usage: tapctl"), help.stdout)
        XCTAssertEqual(tapctl("help", "bogus").stderr, "tapctl: help: unknown command 'bogus' (see 'tapctl --help')\n")
    }

    func testAnOrdinaryUserIsToldWhatToDo() throws {
        let closed = asNobody([Self.binary, "create", "tap0"], tunMode: "0600")
        XCTAssertEqual(closed.status, 3)
        XCTAssertEqual(closed.stderr, "tapctl: create tap0: cannot open /dev/net/tun: permission denied; run it as root or with "
                       + "CAP_NET_ADMIN; an ordinary user needs /dev/net/tun mode 0666, Debian's default (here it is 600), "
                       + "to work a device it owns, or tapctl installed as a privileged helper (tapctl(8), SECURITY)\n")
        // probe says what it can know without opening the device, and what it could not.
        let probe = asNobody([Self.binary, "probe"], tunMode: "0600")
        XCTAssertEqual(probe.status, 0, probe.stderr)
        XCTAssertTrue(probe.stdout.contains("/dev/net/tun mode 0600"), probe.stdout)
        XCTAssertTrue(probe.stdout.split(separator: "\n").contains { $0.hasPrefix("features:") && $0.hasSuffix(" unknown") }, probe.stdout)
        XCTAssertTrue(probe.stdout.contains("not tested:  cannot open /dev/net/tun: permission denied: features, offloads"), probe.stdout)
        let json = asNobody([Self.binary, "probe", "--json"], tunMode: "0600")
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any] ?? [:]
        XCTAssertTrue(object["features"] is NSNull)
        XCTAssertEqual(object["tun_mode"] as? String, "0600")
        // Debian's 0666: a bridge helper run unprivileged, and exec asked to become someone else.
        let bridge = asNobody([Self.binary, "bridge-helper", "--fd", "1", "--br", "br0"], tunMode: "0666")
        XCTAssertEqual(bridge.status, 2, "no br0 here: " + bridge.stderr)
        XCTAssertEqual(spawn(["ip", "link", "add", "br0", "type", "bridge"]).status, 0)
        defer { _ = spawn(["ip", "link", "del", "br0"]) }
        let helper = asNobody([Self.binary, "bridge-helper", "--fd", "1", "--br", "br0"], tunMode: "0666")
        XCTAssertEqual(helper.status, 3)
        XCTAssertEqual(helper.stderr, "tapctl: bridge-helper br0: creating a device needs CAP_NET_ADMIN; run it as root, or install "
                       + "tapctl setuid root or with cap_net_admin and allow the bridge in /etc/tapctl/acl (tapctl(8), SECURITY)\n")
        XCTAssertEqual(tapctl("create", "mine", "--user", "65534").status, 0)
        let become = asNobody([Self.binary, "exec", "mine", "--user", "root", "--", "/bin/true"], tunMode: "0666")
        XCTAssertEqual(become.status, 3)
        XCTAssertEqual(become.stderr, "tapctl: exec mine: becoming uid 0 (gid 0) needs CAP_SETUID and CAP_SETGID; "
                       + "run it as root, or leave out --user and --group\n")
        XCTAssertEqual(try link("mine")?.queues, 0, "the queue went with the refusal")
    }
}
