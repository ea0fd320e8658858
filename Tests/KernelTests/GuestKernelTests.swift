import XCTest
import Foundation
import Glibc
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

/// The data path end to end: a real Linux guest (scripts/guest-image) boots
/// under QEMU on the queues tapctl hands over, turns on four queue pairs,
/// pings the host and moves a payload each way, checksums compared, while the
/// test looks at the device and at QEMU from outside. Four ways in: `exec` of
/// an existing tap, `exec --create`, QEMU's `-netdev bridge` with tapctl as
/// its helper, and QEMU run as the tap's unprivileged owner. One boot each;
/// every wait is bounded by the guest's progress, not by the clock.
final class GuestKernelTests: KernelTestCase {
    private static let qemu = "/usr/bin/qemu-system-x86_64"
    /// What `make check` builds with scripts/guest-image.
    private static var image: String {
        ProcessInfo.processInfo.environment["TAPCTL_GUEST"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/guest").path
    }
    private static let host = "10.77.0.1"
    private static let port: UInt16 = 5000
    private static let payloadBytes = 8 << 20

    private func requireGuest() throws {
        let ci = ProcessInfo.processInfo.environment["CI"] != nil
        guard access(Self.qemu, X_OK) == 0 else {
            if ci { XCTFail("make check installs qemu-system-x86 under CI") }
            throw XCTSkip("qemu-system-x86 is not installed")
        }
        guard access(Self.image + "/vmlinuz", R_OK) == 0, access(Self.image + "/initrd.gz", R_OK) == 0 else {
            if ci { XCTFail("make check builds the guest under CI") }
            throw XCTSkip("no guest at \(Self.image): make check builds it (scripts/guest-image)")
        }
    }

    func testExecHandsAGuestFourQueues() throws {
        try requireGuest()
        XCTAssertEqual(tapctl("create", "tap0", "--multiqueue", "--vnet-hdr", "--up").status, 0)
        XCTAssertEqual(spawn(["ip", "addr", "add", "\(Self.host)/24", "dev", "tap0"]).status, 0)
        let report = try boot("exec", queues: 4) {
            [Self.binary, "exec", "tap0", "--queues", "4", "--"] + $0
        } running: { pid, device in
            try self.checkHeld(device, by: pid, queues: 4)
            self.checkNoCapabilities(pid, uid: 0)
        }
        XCTAssertEqual(report.device, "tap0")
        XCTAssertEqual(try link("tap0")?.queues, 0, "the queues closed with QEMU")
        XCTAssertEqual(try link("tap0")?.disabledQueues, 0)
        XCTAssertEqual(tapctl("delete", "tap0").status, 0)
    }

    /// A launcher's whole job in one call: the device made, bridged and up
    /// (the host's address is the bridge's), held by QEMU, gone with it.
    func testExecCreateMakesADeviceThatGoesWithTheGuest() throws {
        try requireGuest()
        makeBridge()
        defer { _ = spawn(["ip", "link", "del", "br0"]) }
        let report = try boot("exec --create", queues: 4) {
            [Self.binary, "exec", "vm%d", "--create", "--queues", "4", "--bridge", "br0", "--up", "--"] + $0
        } running: { pid, device in
            try self.checkHeld(device, by: pid, queues: 4)
            self.checkNoCapabilities(pid, uid: 0)
            XCTAssertEqual(try self.ipJSON("link", "show", "dev", device).first?["master"] as? String, "br0")
        }
        XCTAssertEqual(report.device, "vm0")
        XCTAssertEqual(try tunLinks(), [], "gone with QEMU")
    }

    func testBridgeHelperHandsAGuestItsTap() throws {
        try requireGuest()
        makeBridge()
        defer { _ = spawn(["ip", "link", "del", "br0"]) }
        // -netdev bridge has no queues option: one queue pair.
        let report = try boot("bridge-helper", queues: 1, netdev: "bridge,id=n0,br=br0,helper=\(Self.binary) bridge-helper") {
            $0
        } running: { pid, device in
            try self.checkHeld(device, by: pid, queues: 1)
            XCTAssertEqual(try self.ipJSON("link", "show", "dev", device).first?["master"] as? String, "br0")
        }
        XCTAssertEqual(report.device, "tap0")
        XCTAssertEqual(try tunLinks(), [], "gone with QEMU")
    }

    /// QEMU as uid 65534 with no capability: turning the guest's queues on
    /// (TUNSETQUEUE) is the kernel's owner check, passed because the tap is its own.
    func testTheTapsUnprivilegedOwnerRunsTheGuest() throws {
        try requireGuest()
        XCTAssertEqual(tapctl("create", "tap0", "--multiqueue", "--vnet-hdr", "--up", "--user", "nobody").status, 0)
        XCTAssertEqual(spawn(["ip", "addr", "add", "\(Self.host)/24", "dev", "tap0"]).status, 0)
        let report = try boot("exec --user nobody", queues: 4, owner: 65534) {
            [Self.binary, "exec", "tap0", "--queues", "4", "--user", "nobody", "--no-new-privs", "--"] + $0
        } running: { pid, device in
            try self.checkHeld(device, by: pid, queues: 4)
            self.checkNoCapabilities(pid, uid: 65534)
        }
        XCTAssertEqual(report.device, "tap0")
        XCTAssertEqual(try link("tap0")?.queues, 0)
        XCTAssertEqual(tapctl("delete", "tap0").status, 0)
    }

    /// br0, up, with the host's address: the guest's tap joins it.
    private func makeBridge() {
        _ = spawn(["ip", "link", "del", "br0"])
        XCTAssertEqual(spawn(["ip", "link", "add", "br0", "type", "bridge"]).status, 0)
        XCTAssertEqual(spawn(["ip", "addr", "add", "\(Self.host)/24", "dev", "br0"]).status, 0)
        XCTAssertEqual(spawn(["ip", "link", "set", "br0", "up"]).status, 0)
    }

    /// The device's object in `tapctl list --json` (the only device, without a name).
    private func listed(_ device: String? = nil) throws -> [String: Any]? {
        let devices = try JSONSerialization.jsonObject(with: Data(tapctl("list", "--json").stdout.utf8)) as? [[String: Any]]
        return devices?.first { device == nil || $0["name"] as? String == device }
    }

    /// `tapctl list --json`: the device has `queues` attached, none detached, all held by `pid`.
    private func checkHeld(_ device: String, by pid: pid_t, queues: Int) throws {
        let entry = try XCTUnwrap(try listed(device))
        XCTAssertEqual(entry["queues"] as? Int, queues, "\(entry)")
        XCTAssertEqual(entry["detached_queues"] as? Int, 0, "\(entry)")
        let processes = entry["processes"] as? [[String: Any]] ?? []
        XCTAssertEqual(processes.map { $0["pid"] as? Int }, [Int(pid)], "\(entry)")
        XCTAssertEqual((processes.first?["fds"] as? [Int])?.count, queues, "\(entry)")
    }

    private func checkNoCapabilities(_ pid: pid_t, uid: uid_t) {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        XCTAssertTrue(status.contains("Name:\tqemu-system-x86"), "tapctl became QEMU")
        XCTAssertTrue(status.contains("Uid:\t\(uid)\t\(uid)\t\(uid)\t\(uid)"), status)
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            XCTAssertTrue(status.contains("\(set):\t0000000000000000"), "\(set) of QEMU")
        }
    }

    /// What one boot measured, for its report.
    private struct Report {
        var device = ""
        var bootSeconds = 0.0, initUptime = "", upUptime = "", runSeconds = 0.0
        var queuesAtInit = "", channels = "", ping = "", perQueue = ""
        var sent = 0, sentSeconds = "", received = 0, receivedSeconds = ""
        var features: [String] = [], tapOffloads: [String] = [], guestOffloads = ""
    }

    /// Boots the guest with `queues` queue pairs, `way` naming how in the report:
    /// `launch` turns QEMU's command line into the one to start; `running`
    /// checks QEMU once the guest's eth0 is up. The guest's payload is
    /// received, the host's sent, both compared, and the guest let go; QEMU is
    /// killed on any failure. `owner`: QEMU's uid, who must read the images and
    /// write the console log.
    private func boot(_ way: String, queues: Int, owner: uid_t? = nil,
                      netdev: String = "tap,id=n0,fds={fds},vhost=off",
                      launch: ([String]) -> [String], running: (pid_t, String) throws -> Void) throws -> Report {
        let scratch = "/tmp/tapctl-guest-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var kernel = Self.image + "/vmlinuz", initrd = Self.image + "/initrd.gz"
        if let owner {
            // A clone under /root is out of another user's reach: QEMU gets copies.
            for (source, copy) in [(kernel, scratch + "/vmlinuz"), (initrd, scratch + "/initrd.gz")] {
                try FileManager.default.copyItem(atPath: source, toPath: copy)
            }
            (kernel, initrd) = (scratch + "/vmlinuz", scratch + "/initrd.gz")
            XCTAssertEqual(chown(scratch, owner, gid_t(owner)), 0)
        }
        let console = scratch + "/console"
        // One part of the payload per queue pair, each way.
        let partBytes = Self.payloadBytes / queues
        let payload = (0..<queues).map { scratch + "/payload.\($0)" }
        for part in payload {
            XCTAssertEqual(spawn(["dd", "if=/dev/urandom", "of=\(part)", "bs=1M", "count=\(partBytes >> 20)"]).status, 0)
        }
        let listener = try Listener(port: Self.port)
        let device = queues > 1 ? "virtio-net-pci,netdev=n0,mq=on,vectors=\(2 * queues + 2)" : "virtio-net-pci,netdev=n0"
        let argv = launch([Self.qemu, "-machine", "q35"] + Self.accelerator.arguments + [
            // A CPU per queue pair: the guest sends each part from the CPU of its queue.
            "-m", "256M", "-smp", String(max(queues, 2)), "-nodefaults", "-display", "none", "-no-reboot",
            "-serial", "file:\(console)", "-kernel", kernel, "-initrd", initrd,
            "-append", "console=ttyS0 quiet panic=-1 tapctl.host=\(Self.host) tapctl.addr=10.77.0.2/24 "
                + "tapctl.port=\(Self.port) tapctl.queues=\(queues) tapctl.mib=\(Self.payloadBytes >> 20)",
            "-netdev", netdev, "-device", device,
        ])
        let started = Date()
        let qemu = try XCTUnwrap(start(argv))
        var exited = false
        defer {
            if !exited {
                kill(qemu.pid, SIGKILL)
                let outcome = qemu.wait()
                print("guest (\(way)) killed; QEMU said: \(outcome.stderr)console:\n\(Self.read(console))")
            }
        }
        let guest = Guest(qemu: qemu, console: console, watchdog: Watchdog(pid: qemu.pid, console: console))
        var report = Report()

        func count(_ entry: [String: Any]?) -> (attached: Int, detached: Int) {
            (entry?["queues"] as? Int ?? 0, entry?["detached_queues"] as? Int ?? 0)
        }
        try guest.until("the tap's queues held") { let held = count(try self.listed()); return held.attached + held.detached == queues }
        report.device = try XCTUnwrap(try listed()?["name"] as? String)
        report.initUptime = try guest.line("init")["uptime"] ?? ""
        report.bootSeconds = Date().timeIntervalSince(started)
        // QEMU detaches the queues the guest has not turned on yet.
        let atInit = count(try listed(report.device))
        report.queuesAtInit = "\(atInit.attached) attached, \(atInit.detached) detached"
        let channels = try guest.line("channels")
        report.channels = "\(channels["combined"] ?? "?") of \(channels["max"] ?? "?")"
        XCTAssertEqual(channels["combined"], String(queues))
        report.upUptime = try guest.line("eth0 up")["uptime"] ?? ""
        try running(qemu.pid, report.device)
        // QEMU set the tap's offloads from what the guest negotiated.
        let probe = tapctl("probe", report.device, "--json")
        let probed = try JSONSerialization.jsonObject(with: Data(probe.stdout.utf8)) as? [String: Any]
        report.tapOffloads = probed?["offloads"] as? [String] ?? []

        let fromGuest = try guest.serve(queues, on: listener)
        let received = (0..<queues).map { scratch + "/received.\($0)" }
        for (data, path) in zip(fromGuest, received) { try data.write(to: URL(fileURLWithPath: path)) }
        _ = try guest.serve(queues, on: listener, sending: try payload.map { try Data(contentsOf: URL(fileURLWithPath: $0)) })
        let ping = try guest.line("ping")
        report.ping = "\(ping["received"] ?? "?") of \(ping["sent"] ?? "?") answered, rtt min/avg/max \(ping["rtt"] ?? "?") ms"
        XCTAssertEqual(ping["received"], "5", ping.raw)
        let guestSent = try guest.line("sent"), guestReceived = try guest.line("received")
        report.sent = Int(guestSent["bytes"] ?? "") ?? -1
        report.sentSeconds = guestSent["seconds"] ?? ""
        report.received = Int(guestReceived["bytes"] ?? "") ?? -1
        report.receivedSeconds = guestReceived["seconds"] ?? ""
        XCTAssertEqual(report.sent, Self.payloadBytes)
        XCTAssertEqual(fromGuest.map(\.count), Array(repeating: partBytes, count: queues))
        // The flows arrive in any order: the parts' checksums are compared as sets.
        XCTAssertEqual(Set(guestSent["sha256"]?.split(separator: ",").map(String.init) ?? []), Set(Self.sha256(received)),
                       "what the guest sent is what the host received")
        XCTAssertEqual(report.received, Self.payloadBytes)
        XCTAssertEqual(Set(guestReceived["sha256"]?.split(separator: ",").map(String.init) ?? []), Set(Self.sha256(payload)),
                       "what the host sent is what the guest received")
        report.features = Self.virtioNetFeatures(try guest.line("features")["bits"] ?? "")
        report.guestOffloads = try guest.line("offloads")["on"] ?? ""
        let perQueue = try guest.line("queues")
        func counts(_ key: String) -> [Int] { perQueue[key]?.split(separator: ",").compactMap { Int($0) } ?? [] }
        let (out, into) = (counts("tx_bytes"), counts("rx_bytes"))
        report.perQueue = zip(out, into).map { String(format: "%.1f/%.1f", Double($0) / 1e6, Double($1) / 1e6) }
            .joined(separator: ", ") + " MB out/in; packets out \(perQueue["tx_packets"] ?? "?"), in \(perQueue["rx_packets"] ?? "?")"
        // Every queue pair carried packets each way (how much of the payload
        // each carried is the guest's and the tap's choice, and is reported).
        for key in ["tx_packets", "rx_packets"] {
            let packets = counts(key)
            XCTAssertEqual(packets.count, queues, perQueue.raw)
            XCTAssertTrue(packets.allSatisfy { $0 > 0 }, "\(key): \(perQueue.raw)")
        }

        // Let the guest power off, and wait for QEMU to end.
        try guest.release(on: listener)
        try guest.until("QEMU to exit") { Self.hasExited(qemu.pid) }
        let outcome = qemu.wait()
        exited = true
        report.runSeconds = Date().timeIntervalSince(started)
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        XCTAssertTrue(Self.read(console).contains("GUEST: done"))

        var expected = ["CSUM", "GUEST_CSUM", "HOST_TSO4", "HOST_TSO6", "GUEST_TSO4", "GUEST_TSO6"]
        if queues > 1 { expected.append("MQ") }
        XCTAssertEqual(Set(expected).subtracting(report.features), [], "negotiated: \(report.features)")
        XCTAssertEqual(Set(["csum", "tso4", "tso6"]).subtracting(report.tapOffloads), [], "tap offloads: \(report.tapOffloads)")
        print(Self.describe(report, way: way))
        return report
    }

    private static func describe(_ report: Report, way: String) -> String {
        func rate(_ bytes: Int, _ seconds: String) -> String {
            guard let seconds = Double(seconds), seconds > 0 else { return "?" }
            return String(format: "%.1f MB/s", Double(bytes) / seconds / 1e6)
        }
        return """
            guest (\(way)) on \(report.device) under \(accelerator.name):
              /init \(String(format: "%.1f", report.bootSeconds)) s after QEMU started (guest uptime \(report.initUptime) s), \
            eth0 up at \(report.upUptime) s, whole run \(String(format: "%.1f", report.runSeconds)) s
              queues at /init: \(report.queuesAtInit); then \(report.channels) combined channels
              ping \(report.ping)
              guest to host \(report.sent) bytes in \(report.sentSeconds) s (\(rate(report.sent, report.sentSeconds))), \
            host to guest \(report.received) bytes in \(report.receivedSeconds) s \
            (\(rate(report.received, report.receivedSeconds))), sha256 equal both ways
              negotiated \(report.features.joined(separator: ","))
              tap offloads (set by QEMU) \(report.tapOffloads.joined(separator: ",")); guest offloads on \(report.guestOffloads)
              per queue pair: \(report.perQueue)
            """
    }

    /// The virtio-net feature bits (virtio spec 5.1.3) in sysfs's string of 0s and 1s, bit 0 first.
    private static func virtioNetFeatures(_ bits: String) -> [String] {
        let names = [0: "CSUM", 1: "GUEST_CSUM", 2: "CTRL_GUEST_OFFLOADS", 3: "MTU", 5: "MAC", 7: "GUEST_TSO4",
                     8: "GUEST_TSO6", 9: "GUEST_ECN", 10: "GUEST_UFO", 11: "HOST_TSO4", 12: "HOST_TSO6", 13: "HOST_ECN",
                     14: "HOST_UFO", 15: "MRG_RXBUF", 16: "STATUS", 17: "CTRL_VQ", 18: "CTRL_RX", 19: "CTRL_VLAN",
                     20: "CTRL_RX_EXTRA", 21: "GUEST_ANNOUNCE", 22: "MQ", 23: "CTRL_MAC_ADDR", 28: "RING_INDIRECT_DESC",
                     29: "RING_EVENT_IDX", 32: "VERSION_1", 33: "ACCESS_PLATFORM", 34: "RING_PACKED", 35: "IN_ORDER",
                     40: "RING_RESET", 61: "RSC_EXT", 62: "STANDBY"]
        return bits.enumerated().filter { $0.element == "1" }.map { names[$0.offset] ?? "bit\($0.offset)" }
    }

    private static func sha256(_ paths: [String]) -> [String] {
        spawn(["sha256sum"] + paths).stdout.split(separator: "\n").map { String($0.prefix(64)) }
    }

    fileprivate static func read(_ path: String) -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    /// Whether `pid` has ended (a zombie, not yet waited for), without reaping it.
    fileprivate static func hasExited(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.range(of: ") ", options: .backwards) else { return true }
        return stat[close.upperBound...].hasPrefix("Z")
    }

    /// KVM where the guest boots under it, TCG otherwise, decided once by
    /// trying: the guest's /init (tapctl.probe powers off there) must come
    /// within 6 s, about what TCG takes, so a slower KVM gains nothing. A
    /// miss costs nothing but the trial: the tests then run under TCG.
    /// /dev/kvm can exist and still hang a stock kernel (kvm_pvm).
    private static let accelerator: (name: String, arguments: [String]) = {
        let kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        guard kvm >= 0 else {
            print("guest: no usable /dev/kvm (\(String(cString: strerror(errno)))): TCG")
            return ("tcg", ["-accel", "tcg"])
        }
        close(kvm)
        let console = "/tmp/tapctl-guest-kvm-\(getpid())"
        defer { unlink(console) }
        let started = Date()
        guard let trial = start([qemu, "-machine", "q35", "-accel", "kvm", "-m", "256M", "-nodefaults", "-display", "none",
                                 "-no-reboot", "-serial", "file:\(console)", "-kernel", image + "/vmlinuz",
                                 "-initrd", image + "/initrd.gz", "-append", "console=ttyS0 quiet panic=-1 tapctl.probe"]) else {
            return ("tcg", ["-accel", "tcg"])
        }
        while !hasExited(trial.pid) && Date().timeIntervalSince(started) < 6 { usleep(100_000) }
        kill(trial.pid, SIGKILL)
        let outcome = trial.wait()
        guard outcome.status == 0, read(console).contains("GUEST: init") else {
            print("guest: KVM did not bring the guest to /init in \(String(format: "%.1f", Date().timeIntervalSince(started))) s "
                  + "(\(outcome.stderr.split(whereSeparator: \.isNewline).last { !$0.contains("warning:") } ?? "no error")): TCG")
            return ("tcg", ["-accel", "tcg"])
        }
        // A user who cannot open /dev/kvm gets QEMU's own fallback.
        return ("kvm", ["-accel", "kvm", "-accel", "tcg"])
    }()
}

/// What ends a wait for the guest: no progress, rather than a fixed time.
/// A boot on a loaded machine can take several times as long as on an idle
/// one, so a fixed bound fails good runs; a guest that has hung stops writing
/// to its console and moving bytes. Progress is new
/// console output or bytes moved over the test's connections. A wait fails
/// when QEMU has spent `stalledCPUSeconds` of CPU time without progress (a
/// guest spinning: the bound stretches with the CPU QEMU actually gets), or
/// `stalledSeconds` of wall time have passed without progress (a QEMU that
/// gets no CPU at all, or is blocked).
private final class Watchdog {
    static let stalledCPUSeconds = 90.0
    static let stalledSeconds = 600.0
    let pid: pid_t
    let console: String
    private var consoleSize = -1
    private var cpuAtProgress = 0.0
    private var timeAtProgress = Date()

    init(pid: pid_t, console: String) {
        self.pid = pid
        self.console = console
    }

    /// QEMU's user and system time, from /proc/PID/stat.
    private var cpuSeconds: Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.range(of: ") ", options: .backwards) else { return cpuAtProgress }
        let fields = stat[close.upperBound...].split(separator: " ")
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return cpuAtProgress }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    func progressed() {
        cpuAtProgress = cpuSeconds
        timeAtProgress = Date()
    }

    /// Why the guest counts as stalled, or nil while it makes progress.
    func stalled() -> String? {
        var status = stat()
        let size = stat(console, &status) == 0 ? Int(status.st_size) : 0
        if size != consoleSize {
            consoleSize = size
            progressed()
            return nil
        }
        let cpu = cpuSeconds - cpuAtProgress, wall = Date().timeIntervalSince(timeAtProgress)
        if cpu > Self.stalledCPUSeconds || wall > Self.stalledSeconds {
            return String(format: "no progress (console output or traffic) in %.0f s of QEMU's CPU time, %.0f s of wall time", cpu, wall)
        }
        return nil
    }
}

/// A running guest, watched through its console log; every wait ends when
/// the watchdog finds no progress, or as soon as QEMU ends.
private struct Guest {
    let qemu: Running
    let console: String
    let watchdog: Watchdog

    private struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The console's complete lines (the serial port ends them with \r\n, one Character).
    private func lines() -> [Substring] {
        let log = GuestKernelTests.read(console)
        return log[..<(log.lastIndex { $0.isNewline } ?? log.startIndex)].split(whereSeparator: \.isNewline)
    }

    /// Polls `condition` every 50 ms.
    func until(_ what: String, _ condition: () throws -> Bool) throws {
        while try !condition() {
            if let failed = lines().first(where: { $0.hasPrefix("GUEST: failed") }) {
                throw Failure(description: "waiting for \(what): \(failed)")
            }
            if GuestKernelTests.hasExited(qemu.pid) {
                // What the guest did just before it ended still counts.
                if try condition() { return }
                throw Failure(description: "QEMU exited while waiting for \(what)")
            }
            if let stalled = watchdog.stalled() { throw Failure(description: "waiting for \(what): \(stalled)") }
            usleep(50_000)
        }
    }

    /// The rest of a console line "GUEST: WHAT ...", and its KEY=VALUE words.
    struct Line {
        let raw: String
        var fields: [String: String] {
            var fields: [String: String] = [:]
            for word in raw.split(separator: " ") {
                let parts = word.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
            }
            return fields
        }
        subscript(key: String) -> String? { fields[key] }
    }

    /// The console's first line "GUEST: WHAT ...", waited for.
    func line(_ what: String) throws -> Line {
        var found: Substring?
        try until("GUEST: \(what)") {
            found = lines().first { $0.hasPrefix("GUEST: \(what)") }
            return found != nil
        }
        return Line(raw: String(found!.dropFirst("GUEST: ".count + what.count)).trimmingCharacters(in: .whitespaces))
    }

    /// The guest's next `count` connections, all at once, in the order they
    /// come: with `parts`, the i-th gets parts[i] and is closed after it;
    /// without, each is read until the guest closes its side. What each sent.
    func serve(_ count: Int, on listener: Listener, sending parts: [Data]? = nil) throws -> [Data] {
        struct Connection {
            var fd: CInt
            var data: Data
            var offset = 0
        }
        var connections: [Connection] = []
        defer { connections.filter { $0.fd >= 0 }.forEach { close($0.fd) } }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        func finish(_ index: Int) {
            close(connections[index].fd)
            connections[index].fd = -1  // poll skips it from now on
        }
        while connections.contains(where: { $0.fd >= 0 }) || connections.count < count {
            var entries = connections.map { pollfd(fd: $0.fd, events: Int16(parts == nil ? POLLIN : POLLOUT), revents: 0) }
            if connections.count < count { entries.append(pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)) }
            try until("the guest's connections") { poll(&entries, nfds_t(entries.count), 100) > 0 }
            for (index, entry) in entries.enumerated() where entry.revents != 0 {
                if entry.fd == listener.fd {
                    // Not close-on-exec (no accept4 here); start() closes what a child should not get.
                    let fd = accept(listener.fd, nil, nil)
                    guard fd >= 0 else { throw Failure(description: "accept: \(String(cString: strerror(errno)))") }
                    connections.append(Connection(fd: fd, data: parts?[connections.count] ?? Data()))
                    if parts != nil && connections[connections.count - 1].data.isEmpty { finish(connections.count - 1) }
                } else if parts == nil {
                    let read = buffer.withUnsafeMutableBytes { Glibc.read(entry.fd, $0.baseAddress, $0.count) }
                    if read > 0 {
                        watchdog.progressed()
                        connections[index].data.append(contentsOf: buffer[..<read])
                    } else if read == 0 {
                        finish(index)
                    } else if errno != EINTR {
                        throw Failure(description: "receiving from the guest: \(String(cString: strerror(errno)))")
                    }
                } else {
                    let connection = connections[index]
                    // MSG_NOSIGNAL: a guest gone is an error here, not SIGPIPE for the test.
                    let sent = connection.data.withUnsafeBytes {
                        Glibc.send(entry.fd, $0.baseAddress! + connection.offset, connection.data.count - connection.offset,
                                   CInt(MSG_NOSIGNAL))
                    }
                    if sent > 0 {
                        watchdog.progressed()
                        connections[index].offset += sent
                        if connections[index].offset == connection.data.count { finish(index) }
                    } else if errno != EINTR {
                        throw Failure(description: "sending to the guest: \(String(cString: strerror(errno)))")
                    }
                }
            }
        }
        return connections.map(\.data)
    }

    /// The guest's last connection, which it waits on before powering off: closed.
    func release(on listener: Listener) throws {
        _ = try serve(1, on: listener, sending: [Data()])
    }
}

/// A TCP port in the namespace for the guest's connections: its flows sending,
/// then its flows receiving, then the one it waits on to be let go.
private final class Listener {
    let fd: CInt

    init(port: UInt16) throws {
        fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        var one: CInt = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard fd >= 0, bound == 0, listen(fd, 4) == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
    }

    deinit { close(fd) }
}
