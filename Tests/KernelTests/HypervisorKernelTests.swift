import XCTest
import Foundation
import Glibc
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

/// A real hypervisor, and a real unprivileged owner, through `tapctl exec`.
final class HypervisorKernelTests: KernelTestCase {
    private static let qemu = "/usr/bin/qemu-system-x86_64"

    private func requireQemu() throws {
        guard access(Self.qemu, X_OK) == 0 else {
            if ProcessInfo.processInfo.environment["CI"] != nil { XCTFail("make check installs qemu-system-x86 under CI") }
            throw XCTSkip("qemu-system-x86 is not installed")
        }
    }

    /// Waits for `condition`, which comes once QEMU has started: the bound is
    /// generous because a loaded machine starts QEMU slowly, and only a QEMU
    /// that never starts reaches it.
    private func eventually(_ condition: () throws -> Bool) rethrows -> Bool {
        for _ in 0..<600 {
            if try condition() { return true }
            usleep(100_000)
        }
        return false
    }

    private func qemu(_ prefix: [String] = [], device: String) throws -> Running {
        try XCTUnwrap(start(prefix + [Self.binary, "exec", device, "--queues", "2", "--no-new-privs", "--",
                                      Self.qemu, "-machine", "q35,accel=tcg", "-nodefaults", "-display", "none", "-S",
                                      "-netdev", "tap,id=n0,fds={fds},vhost=off",
                                      "-device", "virtio-net-pci,netdev=n0,mq=on,vectors=6"]))
    }

    /// `bounding`: whether tapctl could empty the bounding set (it needs CAP_SETPCAP).
    private func checkQemuRuns(_ running: Running, device: String, bounding: Bool = true) throws {
        // QEMU keeps queue 1 disabled (TUNSETQUEUE) until a guest turns multiqueue on.
        XCTAssertTrue(try eventually { (try link(device)).map { $0.queues + $0.disabledQueues == 2 } ?? false },
                      "QEMU took both descriptors")
        // tapctl holds the queues before it execs: wait for the exec too.
        let read = { (try? String(contentsOfFile: "/proc/\(running.pid)/status", encoding: .utf8)) ?? "" }
        XCTAssertTrue(eventually { read().contains("qemu-system-x86") }, "same pid: tapctl became QEMU")
        let status = read()
        for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] + (bounding ? ["CapBnd"] : []) {
            XCTAssertTrue(status.contains("\(set):\t0000000000000000"), set)
        }
        XCTAssertTrue(status.contains("NoNewPrivs:\t1"))
        kill(running.pid, SIGTERM)
        let outcome = running.wait()
        XCTAssertTrue(outcome.stderr.hasPrefix("qemu-system-x86_64: terminating on signal 15 from pid \(getpid())")
                      || outcome.stderr.isEmpty, outcome.stderr)
        XCTAssertEqual(try link(device)?.queues, 0)
    }

    func testQemuTakesTheQueuesAsRoot() throws {
        try requireQemu()
        XCTAssertEqual(tapctl("create", "tap0", "--multiqueue").status, 0)
        try checkQemuRuns(try qemu(device: "tap0"), device: "tap0")
    }

    /// The device's owner, with no capability at all. /dev/net/tun is 0600 on
    /// these machines (Debian ships 0666), so a private mount namespace gets a
    /// 0666 node of the same device; the host's node is untouched.
    /// QEMU's -netdev bridge with tapctl as its helper: the tap joins the
    /// bridge, QEMU holds it, and it goes when QEMU does.
    func testQemuUsesTapctlAsItsBridgeHelper() throws {
        try requireQemu()
        _ = spawn(["ip", "link", "del", "br0"])
        XCTAssertEqual(spawn(["ip", "link", "add", "br0", "type", "bridge"]).status, 0)
        defer { _ = spawn(["ip", "link", "del", "br0"]) }
        let running = try XCTUnwrap(start([Self.qemu, "-machine", "q35,accel=tcg", "-nodefaults", "-display", "none", "-S",
                                           "-netdev", "bridge,id=n0,br=br0,helper=\(Self.binary) bridge-helper",
                                           "-device", "virtio-net-pci,netdev=n0"]))
        XCTAssertTrue(try eventually { try tunLinks().count == 1 }, "the helper made a tap")
        let tap = try XCTUnwrap(try tunLinks().first)
        XCTAssertEqual(try ipJSON("link", "show", "dev", tap.name).first?["master"] as? String, "br0")
        let shown = tapctl("show", tap.name)
        XCTAssertTrue(shown.stdout.contains("(qemu-system-x86, fd "), shown.stdout)
        XCTAssertTrue(shown.stdout.contains("vnet_hdr"), "QEMU asked for --use-vnet")
        kill(running.pid, SIGTERM)
        _ = running.wait()
        XCTAssertEqual(try tunLinks(), [], "gone with QEMU")
    }

    /// As an unprivileged uid: its own tap can be probed, offloaded, handed to
    /// a program whose queues it can detach; another user's tap is refused,
    /// naming its owner.
    func testTheUnprivilegedOwnerWorksItsOwnTap() throws {
        XCTAssertEqual(tapctl("create", "mine", "--multiqueue", "--user", "nobody").status, 0)
        XCTAssertEqual(tapctl("create", "theirs", "--user", "1234").status, 0)
        let nobody = asNobody()
        let offload = spawn(nobody + [Self.binary, "offload", "mine", "csum,tso4"])
        XCTAssertEqual(offload.stdout, "csum,tso4\n", offload.stderr)
        let probe = spawn(nobody + [Self.binary, "probe", "mine", "--json"])
        XCTAssertEqual(probe.status, 0, probe.stderr)
        XCTAssertTrue(probe.stdout.contains(#""offloads":["csum","tso4"]"#), probe.stdout)
        let queue = spawn(nobody + [Self.binary, "exec", "mine", "--queues", "2", "--",
                                    Self.binary, "queue", "detach", "--fd", "4", "--json"])
        XCTAssertEqual(queue.stdout, #"{"fd":4,"name":"mine","detached":true}"# + "\n", queue.stderr)
        let refused = spawn(nobody + [Self.binary, "offload", "theirs", "csum"])
        XCTAssertEqual(refused.status, 3)
        XCTAssertEqual(refused.stderr, "tapctl: offload theirs: needs CAP_NET_ADMIN or ownership of theirs (owner uid 1234); "
                       + "run it as root or as the device's owner\n")
        XCTAssertEqual(spawn(nobody + [Self.binary, "delete", "theirs"]).status, 3)
        XCTAssertEqual(spawn(nobody + [Self.binary, "delete", "mine"]).status, 0, "its owner may delete it")
    }

    /// Runs a command as uid 65534 with a 0666 /dev/net/tun in a private mount namespace.
    private func asNobody() -> [String] {
        let node = "/tmp/tapctl-tun-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let script = "mknod -m 0666 \(node) c 10 200 && mount --bind \(node) /dev/net/tun && rm \(node) && exec \"$@\""
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"] + Self.nobody
    }

    func testTheUnprivilegedOwnerCanExecQemu() throws {
        try requireQemu()
        XCTAssertEqual(tapctl("create", "tap0", "--multiqueue", "--user", "nobody").status, 0)
        let asNobody = asNobody()
        let report = spawn(asNobody + [Self.binary, "exec", "tap0", "--queues", "2", "--", ExecKernelTests.helper, "report"])
        XCTAssertEqual(report.status, 0, report.stderr)
        XCTAssertTrue(report.stdout.contains(#""3":"tap0","4":"tap0""#), report.stdout)
        XCTAssertTrue(report.stdout.contains(#""uid":65534"#), report.stdout)
        let other = spawn(asNobody + [Self.binary, "exec", "vm%d", "--create", "--", "true"])
        XCTAssertEqual(other.status, 3, "creating still needs CAP_NET_ADMIN")
        try checkQemuRuns(try qemu(asNobody, device: "tap0"), device: "tap0", bounding: false)
    }
}
