import XCTest
import Foundation
import Glibc
import CTapShim
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

/// Privileged-helper mode for real, tried as an attacker would: a setuid-root
/// copy and a cap_net_admin copy of tapctl run by two ordinary users, uid
/// 65534 (nobody) and uid 4242, with an access list. Each run gets a private
/// mount namespace: /etc is an overlay holding the test's /etc/tapctl/acl and
/// /dev/net/tun a 0666 node (as Debian ships it), so the host's /etc and
/// device are never touched.
final class HelperKernelTests: KernelTestCase {
    private var directory = ""
    private var setuidCopy: String { directory + "/tapctl-setuid" }
    private var capabilityCopy: String { directory + "/tapctl-cap" }

    override func setUpWithError() throws {
        try super.setUpWithError()
        directory = "/tmp/tapctl-helper-\(getpid())"
        XCTAssertEqual(spawn(["mkdir", "-p", directory]).status, 0)
        XCTAssertEqual(spawn(["chmod", "755", directory]).status, 0)
        XCTAssertEqual(spawn(["install", "-m", "4755", Self.binary, setuidCopy]).status, 0)
        XCTAssertEqual(spawn(["install", "-m", "755", Self.binary, capabilityCopy]).status, 0)
        XCTAssertEqual(spawn(["setcap", "cap_net_admin+ep", capabilityCopy]).status, 0)
        for bridge in ["br0", "br1"] {
            _ = spawn(["ip", "link", "del", bridge])
            XCTAssertEqual(spawn(["ip", "link", "add", bridge, "type", "bridge"]).status, 0)
            // A port of the administrator's, as a host's uplink is: in helper mode a tap is never a bridge's only port.
            XCTAssertEqual(spawn(["ip", "link", "add", "up-\(bridge)", "master", bridge, "type", "veth", "peer", "name", "up-\(bridge)-p"]).status, 0)
        }
        // Set after creation, so the kernel keeps it when ports come and go.
        XCTAssertEqual(spawn(["ip", "link", "set", "br0", "mtu", "1400"]).status, 0)
    }

    override func tearDownWithError() throws {
        for bridge in ["br0", "br1"] {
            _ = spawn(["ip", "link", "del", "up-\(bridge)"])
            _ = spawn(["ip", "link", "del", bridge])
        }
        _ = spawn(["rm", "-rf", directory])
        try super.tearDownWithError()
    }

    private static let rules = """
        allow user:nobody device vm-nobody-*
        allow all device tap*
        allow group:nogroup bridge br0
        allow user:4242 bridge br0
        deny user:nobody device vm-nobody-9
        """

    private enum User {
        case nobody, other
        /// uid 4242 in 300 supplementary groups, 1000 to 1299: more than a 256-entry getgroups buffer holds.
        case grouped

        var uid: uid_t { self == .nobody ? 65534 : 4242 }
        var setpriv: [String] {
            switch self {
            case .nobody: return ["--reuid=65534", "--regid=65534", "--init-groups"]
            case .other: return ["--reuid=4242", "--regid=4242", "--clear-groups"]
            case .grouped: return ["--reuid=4242", "--regid=4242", "--groups=" + (1000..<1300).map(String.init).joined(separator: ",")]
            }
        }
    }

    /// The script that makes the private /etc and /dev/net/tun, runs `setup`
    /// as root there, and becomes the user.
    private func command(_ arguments: [String], as user: User, acl: String?, setup: String) -> [String] {
        let prelude = """
            mkdir -p "$R/upper" "$R/work"
            if [ -n "$ACL" ]; then mkdir "$R/upper/tapctl"; printf '%s\\n' "$ACL" > "$R/upper/tapctl/acl"; fi
            mount -t overlay overlay -o lowerdir=/etc,upperdir="$R/upper",workdir="$R/work" /etc
            eval "$SETUP"
            """
        return privateTunCommand(arguments, prelude: prelude, setpriv: user.setpriv,
                                 scratch: "\(directory)/run-\(UInt32.random(in: 0...UInt32.max))",
                                 environment: ["ACL=\(acl ?? "")", "SETUP=\(setup)"])
    }

    /// Runs `arguments` as `user` with `acl` (nil: no file) in place.
    private func run(_ arguments: [String], as user: User = .nobody, acl: String? = rules, setup: String = "",
                     fds: [CInt: CInt] = [:]) -> Outcome {
        spawn(command(arguments, as: user, acl: acl, setup: setup), fds: fds)
    }

    /// A CNI runtime runs its plugins as root; a helper install refuses CNI mode outright.
    func testHelperModeRefusesCNIMode() throws {
        for copy in [setuidCopy, capabilityCopy] {
            // Refused before the configuration is read.
            let refused = run(["env", "CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_NETNS=/proc/self/ns/net", "CNI_IFNAME=tap0", copy])
            XCTAssertEqual(refused.status, 1, refused.stderr)
            XCTAssertTrue(refused.stdout.contains(#""code":105"#), refused.stdout)
        }
        XCTAssertEqual(try tunLinks(), [])
    }

    func testAllowDenyAndOwnership() throws {
        for copy in [setuidCopy, capabilityCopy] {
            let made = run([copy, "create", "vm-nobody-1", "--up"])
            XCTAssertEqual(made.status, 0, made.stderr)
            XCTAssertEqual(try link("vm-nobody-1")?.owner, 65534, "owned by the real user")
            let denied = run([copy, "create", "vm-nobody-9"])
            XCTAssertEqual(denied.status, 3)
            XCTAssertEqual(denied.stderr, "tapctl: create vm-nobody-9: /etc/tapctl/acl does not allow uid 65534 this device\n")
            XCTAssertEqual(run([copy, "create", "other0"]).status, 3, "no rule: no")
            XCTAssertEqual(run([copy, "create", "vm-nobody-2", "--user", "root"]).stderr,
                           "tapctl: create vm-nobody-2: in privileged-helper mode only you (uid 65534) can own what tapctl makes\n")
            XCTAssertEqual(run([copy, "create", "vm-nobody-2", "--no-owner"]).status, 3)
            let deleted = run([copy, "delete", "vm-nobody-1"])
            XCTAssertEqual(deleted.status, 0, deleted.stderr)
        }
        XCTAssertEqual(run([setuidCopy, "delete", "--all"]).stderr,
                       "tapctl: delete: in privileged-helper mode, name the devices to delete\n")
        XCTAssertEqual(try tunLinks(), [])
    }

    /// Item 1 of the attack: the kernel, not tapctl, decides who may attach.
    /// With CAP_NET_ADMIN in effect the kernel skips its owner check, so the
    /// helper attaches without it: every command on another user's device is
    /// refused by the kernel's own EPERM (tapctl has no check of its own left
    /// to bypass), and the device is untouched.
    /// A user makes tap7 in a user and network namespace of its own, where it
    /// is root, and hands that queue to the helper. Here tap7 is root's, on
    /// br0 and held as a VM would hold it. Every command on the descriptor is
    /// refused, for both installs and both users, and root's tap7 is as it was.
    func testADescriptorFromAnotherNamespaceIsRefused() throws {
        XCTAssertEqual(tapctl("create", "tap7", "--multiqueue", "--vnet-hdr", "--up", "--mtu", "1400", "--bridge", "br0").status, 0)
        let vm = try hold("tap7", flags: [.tap, .noPI, .multiQueue, .vnetHdr])
        let before = try XCTUnwrap(try anyLink("tap7"))
        let bridge = try XCTUnwrap(try anyLink("br0")).index
        let acl = Self.rules + "\nallow all bridge br1\n"
        let attacks = [["set", "--fd", "3", "--bridge", "br1"], ["set", "--fd", "3", "--nobridge"], ["set", "--fd", "3", "--down"],
                       ["set", "--fd", "3", "--mtu", "1300"], ["set", "--fd", "3", "--mac", "02:00:00:00:00:07"],
                       ["offload", "--fd", "3", "csum"], ["vnet-hdr-size", "--fd", "3", "12"], ["sndbuf", "--fd", "3", "65536"],
                       ["queue", "detach", "--fd", "3"], ["probe", "--fd", "3"]]
        for copy in [setuidCopy, capabilityCopy] {
            for user in [User.nobody, .other] {
                for attack in attacks {
                    let outcome = run([ExecKernelTests.helper, "foreign", "tap7", copy] + attack, as: user, acl: acl)
                    XCTAssertEqual(outcome.status, 3, "\(attack): \(outcome.stdout)\(outcome.stderr)")
                    XCTAssertTrue(outcome.stderr.contains("tap7 is in another network namespace than the helper's"),
                                  "\(attack): \(outcome.stderr)")
                }
            }
        }
        let after = try XCTUnwrap(try anyLink("tap7"))
        XCTAssertEqual(after.index, before.index)
        XCTAssertEqual(after.mtu, 1400)
        XCTAssertEqual(after.master, bridge, "still on br0")
        XCTAssertEqual(after.flags & UInt32(IFF_UP), UInt32(IFF_UP))
        XCTAssertEqual(after.address, before.address)
        XCTAssertEqual(after.tun?.disabledQueues, 0)
        XCTAssertEqual(try vm.vnetHeaderSize(), 10)
        XCTAssertEqual(try TapControl().offloads(of: "tap7"), [])
    }

    /// A `deny group:` rule holds for a caller in more groups than a fixed
    /// getgroups buffer takes: the list is read whole, and a failure to read
    /// it refuses rather than matching no group.
    func testADenyGroupRuleHoldsInThreeHundredGroups() throws {
        let acl = "allow all device tap*\ndeny group:1299 device tap9\n"
        for copy in [setuidCopy, capabilityCopy] {
            let outcome = run([copy, "create", "tap9"], as: .grouped, acl: acl)
            XCTAssertEqual(outcome.status, 3, outcome.stderr)
            XCTAssertNil(try link("tap9"), "refused: the caller is in group 1299, its 300th")
            let allowed = run([copy, "create", "tap8"], as: .grouped, acl: acl)
            XCTAssertEqual(allowed.status, 0, allowed.stderr)
            XCTAssertEqual(tapctl("delete", "tap8").status, 0)
        }
    }

    func testAnotherUsersDeviceIsRefusedByTheKernel() throws {
        let made = run([setuidCopy, "create", "tap3", "--multiqueue", "--mtu", "1450"], as: .other)
        XCTAssertEqual(made.status, 0, made.stderr)
        XCTAssertEqual(try link("tap3")?.owner, 4242)
        let refused = "needs CAP_NET_ADMIN or ownership of tap3 (owner uid 4242); run it as root or as the device's owner\n"
        for arguments in [["exec", "tap3", "--", "/bin/true"], ["send", "tap3", "--socket", "/nonexistent"],
                          ["set", "tap3", "--mtu", "1400"], ["offload", "tap3", "csum"], ["vnet-hdr-size", "tap3", "12"],
                          ["probe", "tap3"], ["delete", "tap3"]] {
            for copy in [setuidCopy, capabilityCopy] {
                let outcome = run([copy] + arguments)
                XCTAssertEqual(outcome.status, 3, "\(arguments): \(outcome.stderr)")
                XCTAssertEqual(outcome.stderr, "tapctl: \(arguments[0]) tap3: " + refused, "\(arguments)")
            }
        }
        // A queue of it handed over (a descriptor it got somehow) lets nobody change it either.
        let queue = try hold("tap3", flags: [.tap, .noPI, .multiQueue])
        let handed = run([setuidCopy, "set", "--fd", "3", "--mtu", "1400"], fds: [3: queue.descriptor.rawValue])
        XCTAssertEqual(handed.status, 3)
        XCTAssertEqual(handed.stderr, "tapctl: set tap3: it belongs to uid 4242, not uid 65534\n")
        _ = consume queue
        let link = try XCTUnwrap(try ipJSON("link", "show", "dev", "tap3").first)
        XCTAssertEqual(link["mtu"] as? Int, 1450)
        XCTAssertEqual(try self.link("tap3")?.persistent, true)
        XCTAssertEqual(try self.link("tap3")?.queues, 0)
    }

    /// Item 2: rules are matched against the name the kernel gave a template.
    func testDenyRulesMatchTheNameTheKernelGave() throws {
        let acl = "allow all device tap*\nallow all bridge br0\ndeny user:nobody device tap0"
        for arguments in [["create", "tap%d"], ["exec", "tap%d", "--create", "--", "/bin/true"],
                          ["bridge-helper", "--fd=5", "--br=br0"]] {
            var pair: [CInt] = [-1, -1]
            XCTAssertEqual(socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0, &pair), 0)
            defer { close(pair[0]) }
            let outcome = run([setuidCopy] + arguments, acl: acl, fds: [5: pair[1]])
            close(pair[1])
            XCTAssertEqual(outcome.status, 3, "\(arguments)")
            XCTAssertEqual(outcome.stderr, "tapctl: \(arguments[0]) tap0: /etc/tapctl/acl does not allow uid 65534 this device\n")
            XCTAssertEqual(try tunLinks(), [], "\(arguments): nothing is left")
            XCTAssertEqual(receiveDescriptors(on: pair[0]).fds, [], "no queue handed out")
        }
        XCTAssertEqual(tapctl("create", "tap0").status, 0)
        let next = run([setuidCopy, "create", "tap%d"], acl: acl)
        XCTAssertEqual(next.stdout, "tap1\n", next.stderr)
    }

    /// Item 3: probe's throwaway device has its owner before another user can
    /// attach to it, and none is left behind, for root's probe and the helper's.
    func testProbesThrowawayDeviceCannotBeTaken() throws {
        let acl = "allow all device tapctl*"
        // The stranger learns each new name from rtnetlink and tries it at once.
        let grabber = try XCTUnwrap(start(command([ExecKernelTests.helper, "grab", "tapctl*", "6000"], as: .other, acl: acl, setup: "")))
        var probes = 0
        for round in 0..<20 {
            let outcome = round % 2 == 0 ? tapctl("probe") : run([setuidCopy, "probe"], acl: acl)
            // A stranger who won the race before the owner was set makes the device go.
            XCTAssertTrue(outcome.status == 0 || outcome.stderr.contains("attached a queue before the owner was set"), outcome.stderr)
            probes += outcome.status == 0 ? 1 : 0
            XCTAssertEqual(try tunLinks().map(\.name), [], "no throwaway device is left while the stranger runs")
        }
        let grabbed = grabber.wait()
        XCTAssertEqual(grabbed.status, 0, grabbed.stderr)
        print("probe race: \(probes) of 20 probes finished; the stranger reported \(grabbed.stdout)", terminator: "")
        XCTAssertGreaterThan(probes, 0)
    }

    /// The creation window, attacked as the issue found it: a stranger (uid
    /// 4242, /dev/net/tun 0666) watches rtnetlink for new links and spins
    /// TUNSETIFF on the names a template gives; whatever it attaches to it
    /// keeps, and once the owner is set it calls TUNSETOWNER itself. Each path
    /// that makes a device runs 100 times against it. The table says what each
    /// install guarantees: where the device is made in a private namespace
    /// (root, setuid), the stranger never sees it unowned, so every run
    /// succeeds; a cap_net_admin install makes it here and checks it as made,
    /// so a run may fail (the device deleted), but the stranger takes nothing.
    /// What a run hands over is judged: a device made is its owner's with no
    /// queue but tapctl's; `exec --create`'s COMMAND sees its device so.
    func testTheStealerAndTheWatcherWinNothing() throws {
        let acl = "allow all device vm*\nallow all device tapctl*\nlimit devices 1000\nlimit queues 4"
        // What COMMAND sees of the device it was handed: its owner (nobody's) and its queues, two, both its own.
        let look = "\(Self.binary) show \"$TAPCTL_IFNAME\" --json | grep -q '\"owner\":65534,.*\"queues\":2,\"detached_queues\":0'"
        struct Cell {
            let path: String
            let prefix: String
            let everyRunSucceeds: Bool
            let run: () -> Outcome
        }
        let cells: [Cell] = [
            Cell(path: "root: create", prefix: "vm", everyRunSucceeds: true) {
                self.tapctl("create", "vm%d", "--multiqueue", "--user", "65534")
            },
            Cell(path: "setuid: create", prefix: "vm", everyRunSucceeds: true) {
                self.run([self.setuidCopy, "create", "vm%d", "--multiqueue"], acl: acl)
            },
            // Made in place: the queue this call holds is the device's only one.
            Cell(path: "root: create, one queue", prefix: "vm", everyRunSucceeds: true) {
                self.tapctl("create", "vm%d", "--user", "65534")
            },
            Cell(path: "setuid: create, one queue", prefix: "vm", everyRunSucceeds: true) {
                self.run([self.setuidCopy, "create", "vm%d"], acl: acl)
            },
            Cell(path: "cap_net_admin: create", prefix: "vm", everyRunSucceeds: false) {
                self.run([self.capabilityCopy, "create", "vm%d", "--multiqueue"], acl: acl)
            },
            Cell(path: "root: exec --create", prefix: "vm", everyRunSucceeds: true) {
                self.tapctl("exec", "vm%d", "--create", "--multiqueue", "--queues", "2", "--user", "nobody", "--", "sh", "-c", look)
            },
            Cell(path: "setuid: exec --create", prefix: "vm", everyRunSucceeds: true) {
                self.run([self.setuidCopy, "exec", "vm%d", "--create", "--multiqueue", "--queues", "2", "--", "sh", "-c", look], acl: acl)
            },
            Cell(path: "cap_net_admin: exec --create", prefix: "vm", everyRunSucceeds: false) {
                self.run([self.capabilityCopy, "exec", "vm%d", "--create", "--multiqueue", "--queues", "2", "--", "sh", "-c", look],
                         acl: acl)
            },
            Cell(path: "root: probe", prefix: "tapctl", everyRunSucceeds: true) { self.tapctl("probe") },
            Cell(path: "setuid: probe", prefix: "tapctl", everyRunSucceeds: true) {
                self.run([self.setuidCopy, "probe"], acl: acl)
            },
        ]
        for cell in cells {
            let stop = "\(directory)/stop-\(UInt32.random(in: 0...UInt32.max))"
            let stealer = try XCTUnwrap(start(command([ExecKernelTests.helper, "steal", cell.prefix, stop], as: .other,
                                                      acl: acl, setup: "")))
            var succeeded = 0
            for _ in 0..<100 {
                let outcome = cell.run()
                if outcome.status == 0 {
                    succeeded += 1
                } else {
                    XCTAssertFalse(cell.everyRunSucceeds, "\(cell.path): \(outcome.stderr)")
                    XCTAssertTrue(outcome.stderr.contains("attached a queue before the owner was set"), "\(cell.path): \(outcome.stderr)")
                }
                for link in try tunLinks() {
                    XCTAssertEqual(link.owner, 65534, "\(cell.path): \(link.name) handed over with another owner")
                    XCTAssertEqual(link.queues + link.disabledQueues, 0, "\(cell.path): \(link.name) handed over with a stranger's queue")
                    _ = spawn(["ip", "link", "del", link.name])
                }
            }
            XCTAssertEqual(spawn(["touch", stop]).status, 0)
            let report = stealer.wait()
            print("\(cell.path): \(succeeded) of 100 made; the stranger: \(report.stdout)", terminator: "")
            XCTAssertEqual(report.status, 0, report.stderr)
            if cell.everyRunSucceeds {
                XCTAssertEqual(report.stdout, "{\"attached\":0,\"owned_for_a_moment\":0}\n", "\(cell.path): never reached")
            }
        }
    }

    /// Item 4: a bridge port cannot lower its bridge's MTU or take its address.
    func testABridgePortCannotChangeTheBridge() throws {
        let made = run([setuidCopy, "create", "tap5", "--bridge", "br0", "--up"])
        XCTAssertEqual(made.status, 0, made.stderr)
        let port = try XCTUnwrap(try ipJSON("link", "show", "dev", "tap5").first)
        XCTAssertEqual(port["master"] as? String, "br0")
        XCTAssertEqual(port["address"] as? String, "fe:ff:ff:ff:ff:ff", "as QEMU's bridge helper gives every port")
        let bridgeBefore = try XCTUnwrap(try ipJSON("link", "show", "dev", "br0").first)
        let lower = run([setuidCopy, "set", "tap5", "--mtu", "68"])
        XCTAssertEqual(lower.status, 3)
        XCTAssertEqual(lower.stderr, "tapctl: set tap5: MTU 68 is below bridge br0's 1400, "
                       + "and in privileged-helper mode a port cannot lower its bridge's MTU\n")
        let address = run([setuidCopy, "set", "tap5", "--mac", "02:00:00:00:00:01"])
        XCTAssertEqual(address.status, 3)
        XCTAssertEqual(address.stderr, "tapctl: set tap5: in privileged-helper mode a bridge port's address is "
                       + "fe:ff:ff:ff:ff:ff, so that it never becomes bridge br0's\n")
        XCTAssertEqual(run([setuidCopy, "create", "tap6", "--bridge", "br0", "--mtu", "1300"]).status, 3)
        // tap5 alone is at br0's MTU: if br0 follows its ports, raising tap5 raises br0.
        let raise = run([setuidCopy, "set", "tap5", "--mtu", "9000"])
        XCTAssertEqual(raise.status, 3, raise.stderr)
        XCTAssertTrue(raise.stderr.contains("raising tap5's MTU would raise bridge br0's"), raise.stderr)
        XCTAssertEqual(spawn(["ip", "link", "set", "up-br0", "mtu", "1400"]).status, 0)
        XCTAssertEqual(run([setuidCopy, "set", "tap5", "--mtu", "9000"]).status, 0, "another port holds br0's MTU: above it is fine")
        let bridgeAfter = try XCTUnwrap(try ipJSON("link", "show", "dev", "br0").first)
        XCTAssertEqual(bridgeAfter["mtu"] as? Int, 1400)
        XCTAssertEqual(bridgeAfter["address"] as? String, bridgeBefore["address"] as? String)
        // A bridge with no MTU set by hand takes its ports' lowest: joining takes the bridge's.
        XCTAssertEqual(spawn(["ip", "link", "set", "br0", "mtu", "9000"]).status, 0)
        let joined = run([setuidCopy, "create", "tap7", "--bridge", "br0"])
        XCTAssertEqual(joined.status, 0, joined.stderr)
        XCTAssertEqual(try ipJSON("link", "show", "dev", "tap7").first?["mtu"] as? Int, 9000)
        XCTAssertEqual(run([setuidCopy, "set", "tap7", "--bridge", "br1"]).status, 3, "br1 is not nobody's")
        XCTAssertEqual(run([setuidCopy, "set", "tap7", "--nobridge"]).status, 0)
        // Root is not bound by the helper's rules.
        XCTAssertEqual(tapctl("create", "tap8", "--bridge", "br0", "--mtu", "1300", "--mac", "02:00:00:00:00:01").status, 0)
    }

    /// The bridge rules hold on every path, judged by the gate against the
    /// device as it is: `apply` of a device already on the bridge, leaving a
    /// bridge before an MTU change, and a bridge's only port.
    func testTheBridgeRulesHoldOnEveryPath() throws {
        let bridge = { () throws -> [String: Any] in try XCTUnwrap(try self.ipJSON("link", "show", "dev", "br0").first) }
        let before = try bridge()
        XCTAssertEqual(run([setuidCopy, "create", "tap5", "--bridge", "br0", "--up"]).status, 0)
        let path = "\(directory)/taps.conf"
        try "create tap5 --mtu 68 --mac 00:00:00:00:00:01\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(spawn(["chmod", "644", path]).status, 0)
        let applied = run([setuidCopy, "apply", path])
        XCTAssertNotEqual(applied.status, 0, applied.stdout)
        XCTAssertTrue((applied.stdout + applied.stderr).contains("below bridge br0's 1400"), applied.stdout + applied.stderr)
        XCTAssertEqual(try bridge()["mtu"] as? Int, 1400, "apply lowered nothing")
        XCTAssertEqual(try bridge()["address"] as? String, before["address"] as? String)
        // Leaving comes first: the MTU then changes on a device that is no port.
        let left = run([setuidCopy, "set", "tap5", "--nobridge", "--mtu", "1000"])
        XCTAssertEqual(left.status, 0, left.stderr)
        XCTAssertEqual(try bridge()["mtu"] as? Int, 1400, "br0 never saw a port at 1000")
        // A bridge takes its only port's address and MTU.
        XCTAssertEqual(spawn(["ip", "link", "add", "br2", "type", "bridge"]).status, 0)
        defer { _ = spawn(["ip", "link", "del", "br2"]) }
        let lonely = try XCTUnwrap(try ipJSON("link", "show", "dev", "br2").first)
        let only = run([setuidCopy, "create", "tap6", "--bridge", "br2"], acl: Self.rules + "\nallow all bridge br2\n")
        XCTAssertEqual(only.status, 3)
        XCTAssertTrue(only.stderr.contains("would be bridge br2's only port"), only.stderr)
        XCTAssertEqual(try ipJSON("link", "show", "dev", "br2").first?["address"] as? String, lonely["address"] as? String)
        XCTAssertNil(try link("tap6"), "nothing left behind")
    }

    /// What the attacks on this round found: `create --exist-ok` changed a
    /// device another process held, with no owner or in the caller's group;
    /// and a device whose name is not UTF-8 was taken for another one.
    func testExistOKAndOddNamesMeetTheSameRulesAsSet() throws {
        XCTAssertEqual(spawn(["ip", "tuntap", "add", "tapany", "mode", "tap"]).status, 0, "no owner, no group: ANY USER")
        XCTAssertEqual(spawn(["ip", "link", "set", "tapany", "mtu", "1400"]).status, 0)
        let vm = try hold("tapany")
        for copy in [setuidCopy, capabilityCopy] {
            let outcome = run([copy, "create", "tapany", "--exist-ok", "--mtu", "9000", "--txqueuelen", "10"])
            XCTAssertEqual(outcome.status, 6, "\(copy): \(outcome.stderr)")
        }
        XCTAssertEqual(try anyLink("tapany")?.mtu, 1400, "the held device is as it was")
        XCTAssertEqual(try anyLink("tapany")?.txQueueLength, 1000)
        _ = vm
        // "tap\xfe" would read as "tap\u{FFFD}", another device's name: refused, not guessed.
        let odd = "tap\u{FFFD}"
        XCTAssertEqual(spawn(["sh", "-c", "ip tuntap add \"tap$(printf '\\376')\" mode tap user 65534"]).status, 0)
        XCTAssertEqual(spawn(["ip", "tuntap", "add", odd, "mode", "tap", "user", "65534"]).status, 0)
        // A queue of "tap\xfe", attached by its bytes, handed to the helper as nobody's.
        let fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)
        defer { close(fd) }
        var request = ifreq()
        let bytes: [CChar] = [0x74, 0x61, 0x70, CChar(bitPattern: 0xfe), 0]
        bytes.withUnsafeBufferPointer { ctap_ifreq_set(&request, $0.baseAddress, Int16(IFF_TAP | IFF_NO_PI)) }
        XCTAssertEqual(ctap_ioctl_pointer(fd, ctap_TUNSETIFF(), &request), 0)
        for copy in [setuidCopy, capabilityCopy] {
            let outcome = run([copy, "set", "--fd", "3", "--mtu", "1601"], fds: [3: fd])
            XCTAssertNotEqual(outcome.status, 0, "\(copy): \(outcome.stderr)")
        }
        XCTAssertEqual(try anyLink(odd)?.mtu, 1500, "the look-alike was not touched")
    }

    /// Item 5: the access list is trusted only as root keeps it.
    func testAnAccessListOthersCouldWriteAllowsNothing() throws {
        let cases: [(String, String?, String)] = [
            ("chmod 666 /etc/tapctl/acl", nil, "/etc/tapctl/acl is writable by every user (mode 666)"),
            ("chmod 664 /etc/tapctl/acl", nil, "/etc/tapctl/acl is writable by its group (mode 664)"),
            ("chown 65534 /etc/tapctl/acl", nil, "/etc/tapctl/acl is owned by uid 65534, not root"),
            ("cp /etc/tapctl/acl \"$R/mine\"; chown 65534 \"$R/mine\"; ln -sf \"$R/mine\" /etc/tapctl/acl", nil,
             "/etc/tapctl/acl is a symbolic link"),
            ("chmod 777 /etc/tapctl", nil, "/etc/tapctl is writable by every user (mode 777)"),
            ("chown 65534 /etc/tapctl", nil, "/etc/tapctl is owned by uid 65534, not root"),
            ("rm /etc/tapctl/acl; mkfifo -m 644 /etc/tapctl/acl", nil, "/etc/tapctl/acl is not a regular file"),
        ]
        for (setup, _, why) in cases {
            let outcome = run([setuidCopy, "create", "tap0"], setup: setup)
            XCTAssertEqual(outcome.status, 3, setup)
            XCTAssertEqual(outcome.stderr, "tapctl: create: \(why); privileged-helper mode trusts only a file that root alone can change\n", setup)
        }
        let crlf = run([setuidCopy, "create", "tap0"], acl: "allow all device tap*\r\ndeny user:nobody device tap0\r")
        XCTAssertEqual(crlf.status, 3)
        XCTAssertEqual(crlf.stderr, "tapctl: create: /etc/tapctl/acl line 1: a carriage return (CRLF line ending); "
                       + "save the file with Unix line endings; privileged-helper mode allows nothing until it is fixed\n")
        XCTAssertEqual(try tunLinks(), [])
    }

    /// Item 7: what one user may pin of the kernel's memory is bounded.
    func testLimitsBoundQueuesQueueLengthAndDevices() throws {
        let acl = "allow all device tap*\nlimit queues 2\nlimit txqueuelen 2000\nlimit devices 2"
        XCTAssertEqual(run([setuidCopy, "create", "tap0", "--multiqueue"], acl: acl).status, 0)
        let queues = run([setuidCopy, "exec", "tap0", "--queues", "3", "--", "/bin/true"], acl: acl)
        XCTAssertEqual(queues.status, 3)
        XCTAssertEqual(queues.stderr, "tapctl: exec tap0: 3 queues are more than the 2 /etc/tapctl/acl allows one device\n")
        XCTAssertEqual(run([setuidCopy, "exec", "tap0", "--queues", "2", "--", "/bin/true"], acl: acl).status, 0)
        let length = run([setuidCopy, "set", "tap0", "--txqueuelen", "500000"], acl: acl)
        XCTAssertEqual(length.status, 3)
        XCTAssertEqual(length.stderr, "tapctl: set tap0: txqueuelen 500000 is more than the 2000 /etc/tapctl/acl allows\n")
        XCTAssertEqual(run([setuidCopy, "create", "tap1", "--txqueuelen", "2000"], acl: acl).status, 0)
        let third = run([setuidCopy, "create", "tap%d"], acl: acl)
        XCTAssertEqual(third.status, 3)
        XCTAssertEqual(third.stderr, "tapctl: create tap2: tapctl made 2 devices for you already, and /etc/tapctl/acl allows 2\n")
        XCTAssertEqual(try tunLinks().map(\.name), ["tap0", "tap1"], "the third is gone")
        // The count is of what the helper made for the user, recorded where only CAP_NET_ADMIN can
        // change it: giving a device to another user (TUNSETOWNER, which its owner may do) frees nothing,
        // and pushes nothing onto the other user.
        let given = run([ExecKernelTests.helper, "give", "tap0", "4242"], acl: acl)
        XCTAssertEqual(given.status, 0, given.stdout)
        XCTAssertEqual(try link("tap0")?.owner, 4242)
        XCTAssertEqual(run([setuidCopy, "create", "tap%d"], acl: acl).status, 3, "still two made for nobody")
        XCTAssertEqual(run([setuidCopy, "create", "tap9"], as: .other, acl: acl).status, 0, "the limit is per user")
        XCTAssertEqual(run([setuidCopy, "create", "tap8"], as: .other, acl: acl).status, 0, "tap0 does not count for 4242")
    }

    /// apply and dump follow the access list device by device; --prune is refused.
    func testApplyAndDumpFollowTheAccessList() throws {
        XCTAssertEqual(tapctl("create", "root9").status, 0, "no rule allows it: not in nobody's dump")
        let file = "\(directory)/taps.conf"
        try "create vm-nobody-1 --up\ncreate other0\n".write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertEqual(spawn(["chmod", "644", file]).status, 0)
        let applied = run([setuidCopy, "apply", file])
        XCTAssertEqual(applied.status, 3)
        XCTAssertEqual(applied.stdout, "created vm-nobody-1\n")
        XCTAssertEqual(applied.stderr, "tapctl: apply other0: line 2: /etc/tapctl/acl does not allow uid 65534 this device\n")
        XCTAssertEqual(try link("vm-nobody-1")?.owner, 65534)
        XCTAssertNil(try link("other0"))
        XCTAssertEqual(run([setuidCopy, "dump"]).stdout.split(separator: " ").prefix(2), ["create", "vm-nobody-1"])
        XCTAssertFalse(run([setuidCopy, "dump"]).stdout.contains("root9"), "a device the list does not allow is not shown")
        XCTAssertEqual(run([setuidCopy, "apply", "--prune", "vm*", file]).stderr,
                       "tapctl: apply: in privileged-helper mode apply does not delete devices: --prune is refused\n")
    }

    func testAMissingOrMalformedListAllowsNothing() throws {
        let missing = run([setuidCopy, "create", "vm-nobody-1"], acl: nil)
        XCTAssertEqual(missing.status, 3)
        XCTAssertEqual(missing.stderr,
                       "tapctl: create: privileged-helper mode allows nothing without /etc/tapctl/acl (No such file or directory)\n")
        let malformed = run([setuidCopy, "create", "vm-nobody-1"], acl: "allow all device *\nallow bob")
        XCTAssertEqual(malformed.status, 3)
        XCTAssertEqual(malformed.stderr, "tapctl: create: /etc/tapctl/acl line 2: a rule has four words: "
                       + "allow|deny WHO device|bridge PATTERN; privileged-helper mode allows nothing until it is fixed\n")
        XCTAssertEqual(try tunLinks(), [])
        XCTAssertEqual(run([setuidCopy, "list"], acl: nil).status, 0, "reading needs no rule")
        let probe = run([setuidCopy, "probe"], acl: "allow all bridge br0").stderr
        XCTAssertTrue(probe.hasPrefix("tapctl: probe tapctl") && probe.hasSuffix(": /etc/tapctl/acl does not allow uid 65534 this device\n"),
                      "its throwaway tap is a device: \(probe)")
        XCTAssertEqual(run([setuidCopy, "probe"], acl: "allow all device tapctl*").status, 0)
        XCTAssertEqual(try tunLinks(), [])
    }

    /// The helper mode keeps CAP_NET_ADMIN alone and hands a program nothing;
    /// --user and --group (item 8) would need what it does not keep.
    func testExecInHelperModeLeavesNoCapability() throws {
        XCTAssertEqual(run([setuidCopy, "create", "vm-nobody-1", "--multiqueue"]).status, 0)
        let child = run([setuidCopy, "exec", "vm-nobody-1", "--queues", "2", "--", ExecKernelTests.helper, "report"])
        XCTAssertEqual(child.status, 0, child.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(child.stdout.utf8)) as? [String: Any] ?? [:]
        XCTAssertEqual(report["uid"] as? Int, 65534)
        XCTAssertEqual(report["euid"] as? Int, 65534)
        let status = report["status"] as? [String: String] ?? [:]
        for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] { XCTAssertEqual(status[set], "0000000000000000", set) }
        XCTAssertEqual(status["NoNewPrivs"], "1", "forced in helper mode")
        for option in ["--user=nobody", "--group=nogroup"] {
            let refused = run([setuidCopy, "exec", "vm-nobody-1", option, "--", "/bin/true"])
            XCTAssertEqual(refused.status, 3)
            XCTAssertEqual(refused.stderr, "tapctl: exec: in privileged-helper mode COMMAND runs as you; "
                           + "\(option.prefix { $0 != "=" }) would need privileges the helper does not keep\n")
        }
    }

    /// QEMU's bridge helper protocol: the tap's descriptor arrives over the
    /// inherited socket, on the bridge, up, with the bridge's MTU.
    func testBridgeHelperProtocol() throws {
        for (copy, vnet) in [(setuidCopy, true), (Self.binary, false)] {
            var pair: [CInt] = [-1, -1]
            XCTAssertEqual(socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0, &pair), 0)
            defer { close(pair[0]) }
            let arguments = [copy, "bridge-helper"] + (vnet ? ["--use-vnet"] : []) + ["--fd=5", "--br=br0"]
            let outcome = copy == Self.binary ? spawn(arguments, fds: [5: pair[1]]) : run(arguments, fds: [5: pair[1]])
            close(pair[1])
            XCTAssertEqual(outcome.status, 0, outcome.stderr)
            let (text, fds) = receiveDescriptors(on: pair[0])
            XCTAssertEqual(text, "\0")
            let fd = try XCTUnwrap(fds.first)
            let interface = try TunDescriptor(fd).interface()
            XCTAssertTrue(interface.name.hasPrefix("tap"), interface.name)
            XCTAssertEqual(interface.flags.contains(.vnetHdr), vnet)
            let link = try XCTUnwrap(try ipJSON("link", "show", "dev", interface.name).first)
            XCTAssertEqual(link["master"] as? String, "br0")
            XCTAssertEqual(link["mtu"] as? Int, 1400)
            XCTAssertEqual(link["address"] as? String, "fe:ff:ff:ff:ff:ff")
            XCTAssertTrue((link["flags"] as? [String] ?? []).contains("UP"))
            close(fd)
            XCTAssertEqual(try tunLinks(), [], "the tap goes with QEMU's descriptor")
        }
        let refused = run([setuidCopy, "bridge-helper", "--fd=5", "--br=br1"], fds: [5: 1])
        XCTAssertEqual(refused.status, 3)
        XCTAssertEqual(refused.stderr, "tapctl: bridge-helper br1: /etc/tapctl/acl does not allow uid 65534 this bridge\n")
    }
}
