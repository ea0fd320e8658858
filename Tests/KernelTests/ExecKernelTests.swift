import XCTest
import Foundation
import Glibc
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

final class ExecKernelTests: KernelTestCase {
    static var helper: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("TapctlTestHelper").path
    }

    /// `tapctl exec ARGUMENTS -- helper report`, parsed.
    private func report(_ arguments: [String], prefix: [String] = [], extra: [String] = []) throws -> [String: Any] {
        let outcome = spawn(prefix + [Self.binary, "exec"] + arguments + ["--", Self.helper, "report"] + extra)
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        return try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any] ?? [:]
    }

    private static let allZero = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"].map { ($0, "0000000000000000") }

    func testTheChildGetsExactlyTheQueuesAndNoCapability() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--multiqueue").status, 0)
        let child = try report(["tap0", "--queues", "4"], extra: ["{fds}", "{fd}", "{ifname}", "a{other}b{", "fd=[{fdlist}]"])
        XCTAssertEqual(child["fds"] as? [String: String],
                       ["0": "", "1": "", "2": "", "3": "tap0", "4": "tap0", "5": "tap0", "6": "tap0"])
        XCTAssertEqual(child["args"] as? [String], ["3:4:5:6", "3", "tap0", "a{other}b{", "fd=[3,4,5,6]"])
        let environment = child["env"] as? [String: String] ?? [:]
        XCTAssertEqual(environment.filter { ["TAPCTL_FDS", "TAPCTL_VHOSTFDS", "TAPCTL_IFNAME"].contains($0.key) },
                       ["TAPCTL_FDS": "3:4:5:6", "TAPCTL_VHOSTFDS": "", "TAPCTL_IFNAME": "tap0"])
        let status = child["status"] as? [String: String] ?? [:]
        for (set, value) in Self.allZero { XCTAssertEqual(status[set], value, set) }
        XCTAssertEqual(status["NoNewPrivs"], "0")
        XCTAssertEqual(child["uid"] as? Int, 0, "root without capabilities")
        XCTAssertEqual(try link("tap0")?.queues, 0, "the queues closed with the child")
    }

    func testWhileTheChildRunsIpShowsItsQueues() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--multiqueue").status, 0)
        let outcome = tapctl("exec", "tap0", "--queues", "3", "--", "ip", "-d", "-j", "link", "show", "tap0")
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        XCTAssertTrue(outcome.stdout.contains(#""numqueues":3"#), outcome.stdout)
        XCTAssertEqual(try link("tap0")?.queues, 0)
    }

    func testFdStartUserGroupAndNoNewPrivs() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--multiqueue", "--user", "nobody").status, 0)
        let child = try report(["tap0", "--queues", "2", "--fd-start", "7", "--user", "nobody", "--no-new-privs"],
                               extra: ["{fds}"])
        XCTAssertEqual(child["fds"] as? [String: String], ["0": "", "1": "", "2": "", "7": "tap0", "8": "tap0"])
        XCTAssertEqual(child["args"] as? [String], ["7:8"])
        XCTAssertEqual(child["uid"] as? Int, 65534)
        XCTAssertEqual(child["euid"] as? Int, 65534)
        XCTAssertEqual(child["gid"] as? Int, 65534)
        XCTAssertEqual(child["groups"] as? [Int], [65534])
        let status = child["status"] as? [String: String] ?? [:]
        for (set, value) in Self.allZero { XCTAssertEqual(status[set], value, set) }
        XCTAssertEqual(status["NoNewPrivs"], "1")
        let grouped = try report(["tap0", "--user", "1234", "--group", "4321"])
        XCTAssertEqual(grouped["uid"] as? Int, 1234)
        XCTAssertEqual(grouped["gid"] as? Int, 4321)
        XCTAssertEqual(grouped["groups"] as? [Int], [4321])
    }

    func testTheOwnerCanExecWithoutPrivilege() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--multiqueue", "--user", "root").status, 0)
        let child = try report(["tap0", "--queues", "2"], prefix: Self.withoutNetAdmin)
        XCTAssertEqual(child["fds"] as? [String: String], ["0": "", "1": "", "2": "", "3": "tap0", "4": "tap0"])
        XCTAssertEqual(tapctl("create", "other", "--user", "1234").status, 0)
        let refused = tapctl("exec", "other", "--", "true", prefix: Self.withoutNetAdmin)
        XCTAssertEqual(refused.status, 3)
        XCTAssertEqual(refused.stderr, "tapctl: exec other: needs CAP_NET_ADMIN or ownership of other (owner uid 1234); "
                       + "run it as root or as the device's owner\n")
    }

    func testAFrameCrossesTheInheritedQueue() throws {
        XCTAssertEqual(tapctl("create", "tap0").status, 0)
        XCTAssertEqual(spawn(["ip", "addr", "add", "10.99.0.1/24", "dev", "tap0"]).status, 0)
        XCTAssertEqual(spawn(["ip", "link", "set", "tap0", "up"]).status, 0)
        let outcome = tapctl("exec", "tap0", "--vnet-hdr-size", "12", "--", Self.helper, "arp", "{fd}")
        XCTAssertEqual(outcome.status, 0, outcome.stdout + outcome.stderr)
        XCTAssertTrue(outcome.stdout.hasPrefix("arp reply from "), outcome.stdout)
    }

    func testCreateMakesATransientDeviceOwnedByTheUser() throws {
        let child = try report(["vm%d", "--create", "--queues", "2", "--user", "nobody"], extra: ["{ifname}"])
        XCTAssertEqual(child["args"] as? [String], ["vm0"])
        XCTAssertEqual(child["fds"] as? [String: String], ["0": "", "1": "", "2": "", "3": "vm0", "4": "vm0"])
        XCTAssertEqual(try tunLinks(), [], "without --persist it went with its queues")
        _ = try report(["vm%d", "--create", "--persist", "--user", "nobody", "--group", "nogroup"])
        let kept = try XCTUnwrap(try link("vm0"))
        XCTAssertEqual(kept.owner, 65534)
        XCTAssertEqual(kept.group, 65534)
        XCTAssertTrue(kept.persistent && kept.vnetHeader)
        XCTAssertEqual(tapctl("exec", "vm0", "--create", "--", "true").status, 5, "--create never takes an existing device")
    }

    /// QEMU does not bring a tap up: --create takes create's link settings and
    /// applies them before COMMAND runs (and before --persist); a bad one leaves nothing.
    func testCreateConfiguresTheDeviceBeforeHandingItOver() throws {
        _ = spawn(["ip", "link", "del", "br9"])
        XCTAssertEqual(spawn(["ip", "link", "add", "br9", "type", "bridge"]).status, 0)
        defer { _ = spawn(["ip", "link", "del", "br9"]) }
        let shown = tapctl("exec", "vm%d", "--create", "--queues", "2", "--up", "--mtu", "1400", "--bridge", "br9", "--",
                           "ip", "-j", "link", "show", "{ifname}")
        XCTAssertEqual(shown.status, 0, shown.stderr)
        let seen = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [[String: Any]])?.first)
        XCTAssertEqual(seen["mtu"] as? Int, 1400)
        XCTAssertEqual(seen["master"] as? String, "br9")
        XCTAssertEqual((seen["flags"] as? [String])?.contains("UP"), true)
        XCTAssertEqual(try tunLinks(), [], "gone with its queues")
        XCTAssertEqual(tapctl("exec", "vm%d", "--create", "--persist", "--mtu", "1300", "--", "true").status, 0)
        XCTAssertEqual(try link("vm0")?.persistent, true)
        XCTAssertEqual(sysfs("vm0", "mtu"), "1300")
        XCTAssertEqual(tapctl("delete", "vm0").status, 0)
        let refused = tapctl("exec", "vm%d", "--create", "--persist", "--bridge", "nobr9", "--", "true")
        XCTAssertEqual(refused.stderr, "tapctl: exec vm%d: no bridge named nobr9\n")
        XCTAssertEqual(try tunLinks(), [], "nothing made")
    }

    func testACommandThatCannotRunLeavesNothingBehind() throws {
        let missing = tapctl("exec", "vm%d", "--create", "--persist", "--", "/nonexistent/vmm", "-x")
        XCTAssertEqual(missing.status, 127)
        XCTAssertEqual(missing.stderr, "tapctl: exec vm0: cannot run '/nonexistent/vmm': No such file or directory\n")
        XCTAssertEqual(try tunLinks(), [], "the persistent device --create made is gone")
        let notExecutable = tapctl("exec", "vm%d", "--create", "--", "/proc/self/status")
        XCTAssertEqual(notExecutable.status, 126)
        XCTAssertEqual(try tunLinks(), [])
        XCTAssertEqual(tapctl("create", "tap0").status, 0)
        XCTAssertEqual(tapctl("exec", "tap0", "--", "/nonexistent/vmm").status, 127)
        XCTAssertEqual(try link("tap0")?.persistent, true, "a device exec did not create is kept")
    }

    func testRefusals() throws {
        XCTAssertEqual(tapctl("create", "sq0").status, 0)
        let single = tapctl("exec", "sq0", "--queues", "2", "--", "true")
        XCTAssertEqual(single.status, 1)
        XCTAssertEqual(single.stderr, "tapctl: exec sq0: 2 queues need a multiqueue device, and sq0 is not one\n")
        let held = try hold("sq0")
        let busy = tapctl("exec", "sq0", "--", "true")
        XCTAssertEqual(busy.status, 6)
        XCTAssertTrue(busy.stderr.hasPrefix("tapctl: exec sq0: in use by pid \(getpid()) "), busy.stderr)
        XCTAssertGreaterThan(held.descriptor.rawValue, 2)  // last use: held until here
        let taken = tapctl("exec", "sq9", "--create", "--", "true", fds: [3: 0])
        XCTAssertEqual(taken.status, 1)
        XCTAssertEqual(taken.stderr, "tapctl: exec sq9: fd 3 is already open (inherited), and a tap descriptor would "
                       + "replace it; --fd-start can move the range past it\n")
        XCTAssertNil(try link("sq9"), "rolled back")
        XCTAssertEqual(tapctl("exec", "nope", "--", "true").status, 4)
        XCTAssertEqual(tapctl("exec", "lo", "--", "true").status, 4)
    }

    /// These machines have no /dev/vhost-net: a clear error, and nothing left open or made.
    func testVhostNetMissingIsAClearError() throws {
        try XCTSkipIf(access("/dev/vhost-net", F_OK) == 0, "this machine has /dev/vhost-net")
        let outcome = tapctl("exec", "vm%d", "--create", "--persist", "--vhost-net", "--", "true")
        XCTAssertEqual(outcome.status, 1)
        XCTAssertEqual(outcome.stderr, "tapctl: exec vm%d: /dev/vhost-net does not exist; load the vhost_net module "
                       + "(modprobe vhost_net), or leave out --vhost-net\n")
        XCTAssertEqual(try tunLinks(), [])
    }
}
