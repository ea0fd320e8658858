import XCTest
import Foundation
import Glibc
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

/// tapctl as a CNI plugin, driven exactly as a runtime drives one: the
/// parameters in the environment, the configuration on standard input, the
/// result or error object on standard output, and the exit status. Each
/// sandbox is a network namespace of its own, held by a process.
final class CNIKernelTests: KernelTestCase {
    private var scratch = ""
    private var holders: [Running] = []

    override func setUpWithError() throws {
        try super.setUpWithError()
        scratch = NSTemporaryDirectory() + "tapctl-cni-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        for holder in holders { kill(holder.pid, SIGKILL); _ = holder.wait() }
        try? FileManager.default.removeItem(atPath: scratch)
        try super.tearDownWithError()
    }

    /// A new sandbox: the path a runtime passes as CNI_NETNS.
    private func sandbox() throws -> String {
        let holder = try startNamespaceHolder(seconds: 300)
        holders.append(holder)
        return "/proc/\(holder.pid)/ns/net"
    }

    /// What the plugin answered: exit status, and standard output parsed.
    struct Answer {
        let status: Int32
        let output: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(output.utf8))) as? [String: Any] ?? [:] }
        var code: Int? { json["code"] as? Int }
    }

    /// Runs the plugin with CNI_COMMAND `command`, `environment`, and `config` on stdin.
    private func cni(_ command: String, _ config: [String: Any], _ environment: [String: String] = [:]) throws -> Answer {
        try cni(command, text: String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self), environment)
    }

    private func cni(_ command: String, text: String, _ environment: [String: String] = [:]) throws -> Answer {
        try run(Self.binary, command, text: text, environment)
    }

    /// A plugin run as a runtime runs one. (Not Foundation's Process, whose
    /// wait never returns in this test process.)
    private func run(_ program: String, _ command: String, text: String, _ environment: [String: String]) throws -> Answer {
        var variables = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": command]
        variables.merge(environment) { $1 }
        let outcome = try XCTUnwrap(start([program], stdin: text, environment: variables.map { $0.key + "=" + $0.value })).wait()
        return Answer(status: outcome.status, output: outcome.stdout)
    }

    private func config(_ version: String, _ extra: [String: Any] = [:]) -> [String: Any] {
        var config: [String: Any] = ["cniVersion": version, "name": "vmnet", "type": "tapctl", "dataDir": scratch + "/data"]
        config.merge(extra) { $1 }
        return config
    }

    private func attachment(_ netns: String, _ id: String = "c1", _ ifname: String = "tap0") -> [String: String] {
        ["CNI_CONTAINERID": id, "CNI_NETNS": netns, "CNI_IFNAME": ifname, "CNI_PATH": "/usr/lib/cni"]
    }

    /// `ip` inside the sandbox at `netns`.
    private func inSandbox(_ netns: String, _ arguments: String...) -> Outcome {
        spawn(["nsenter", "--net=" + netns] + arguments)
    }

    private func sandboxLink(_ netns: String, _ name: String) throws -> [String: Any]? {
        let outcome = inSandbox(netns, "ip", "-j", "-d", "link", "show", "dev", name)
        guard outcome.status == 0 else { return nil }
        return (try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [[String: Any]])?.first
    }

    func testVersionAnswersInTheVersionAsked() throws {
        for version in ["0.4.0", "1.0.0", "1.1.0"] {
            let answer = try cni("VERSION", ["cniVersion": version])
            XCTAssertEqual(answer.status, 0)
            XCTAssertEqual(answer.json["cniVersion"] as? String, version)
            XCTAssertEqual(answer.json["supportedVersions"] as? [String], ["0.4.0", "1.0.0", "1.1.0"])
        }
    }

    func testAddCheckDeleteInEachVersion() throws {
        for version in ["0.4.0", "1.0.0", "1.1.0"] {
            let netns = try sandbox()
            let settings: [String: Any] = ["queues": 4, "vnetHdr": true, "mtu": 1400, "owner": "nobody", "group": 65534,
                                           "mac": "02:00:00:00:00:07", "txqueuelen": 500, "x-unknown": ["kept": 1]]
            let added = try cni("ADD", config(version, settings), attachment(netns))
            XCTAssertEqual(added.status, 0, added.output)
            XCTAssertEqual(added.json["cniVersion"] as? String, version)
            let interface = (added.json["interfaces"] as? [[String: Any]])?.first ?? [:]
            XCTAssertEqual(interface["name"] as? String, "tap0")
            XCTAssertEqual(interface["mac"] as? String, "02:00:00:00:00:07", "podman needs the MAC")
            XCTAssertEqual(interface["sandbox"] as? String, netns)
            XCTAssertEqual(interface["mtu"] as? Int, version == "1.1.0" ? 1400 : nil, "mtu is in 1.1.0 results only")

            let link = try XCTUnwrap(try sandboxLink(netns, "tap0"), version)
            let tun = (link["linkinfo"] as? [String: Any])?["info_data"] as? [String: Any] ?? [:]
            XCTAssertEqual(tun["multi_queue"] as? Bool, true, "four queues: multiqueue")
            XCTAssertEqual(tun["vnet_hdr"] as? Bool, true)
            XCTAssertEqual(tun["user"] as? String, "nobody")
            XCTAssertEqual(tun["group"] as? String, "nogroup")
            XCTAssertEqual(link["mtu"] as? Int, 1400)
            XCTAssertEqual(link["txqlen"] as? Int, 500)
            XCTAssertEqual(link["ifalias"] as? String, "tapctl cni c1 tap0", "tagged as this plugin's")
            XCTAssertTrue(FileManager.default.fileExists(atPath: scratch + "/data/vmnet/c1-tap0"), "recorded on the host")
            XCTAssertTrue(try tunLinks().isEmpty, "nothing in the runtime's own namespace")

            var checked = config(version, settings)
            checked["prevResult"] = added.json
            XCTAssertEqual(try cni("CHECK", checked, attachment(netns)).status, 0, version)
            XCTAssertEqual(inSandbox(netns, "ip", "link", "set", "tap0", "mtu", "1500").status, 0)
            let differs = try cni("CHECK", checked, attachment(netns))
            XCTAssertEqual(differs.code, 101, differs.output)
            XCTAssertEqual(differs.json["details"] as? String, "mtu 1500 -> 1400")

            XCTAssertEqual(try cni("DEL", config(version, settings), attachment(netns)).status, 0)
            XCTAssertNil(try sandboxLink(netns, "tap0"), "deleted")
            XCTAssertFalse(FileManager.default.fileExists(atPath: scratch + "/data/vmnet/c1-tap0"), "the record too")
            XCTAssertEqual(try cni("DEL", config(version, settings), attachment(netns)).status, 0, "twice")
        }
    }

    func testDeleteSucceedsWhenTheSandboxIsGone() throws {
        let netns = try sandbox()
        XCTAssertEqual(try cni("ADD", config("1.0.0"), attachment(netns)).status, 0)
        let holder = try XCTUnwrap(holders.popLast())
        kill(holder.pid, SIGKILL)
        _ = holder.wait()
        XCTAssertEqual(try cni("DEL", config("1.0.0"), attachment(netns)).status, 0)
        XCTAssertEqual(try cni("DEL", config("1.0.0"), attachment(netns)).status, 0)
    }

    func testErrorsCarryTheSpecsCodes() throws {
        let netns = try sandbox()
        let cases: [(String, [String: Any]?, String?, [String: String], Int)] = [
            ("incompatible version", config("0.3.1"), nil, attachment(netns), 1),
            ("not JSON", nil, #"{"cniVersion":"1.0.0","#, attachment(netns), 6),
            ("no container ID", config("1.0.0"), nil, ["CNI_NETNS": netns, "CNI_IFNAME": "tap0"], 4),
            ("bad container ID", config("1.0.0"), nil, attachment(netns, "-x"), 4),
            ("no such sandbox", config("1.0.0"), nil, attachment("/proc/999999999/ns/net"), 4),
            ("bad interface name", config("1.0.0"), nil, attachment(netns, "c1", "a/b"), 4),
            ("MTU as text", config("1.0.0", ["mtu": "big"]), nil, attachment(netns), 7),
            ("zero queues", config("1.0.0", ["queues": 0]), nil, attachment(netns), 7),
            ("multiQueue against queues", config("1.0.0", ["queues": 1, "multiQueue": true]), nil, attachment(netns), 7),
            ("no such owner", config("1.0.0", ["owner": "no-such-user-tapctl"]), nil, attachment(netns), 7),
            ("bad MAC", config("1.0.0", ["mac": "01:00:00:00:00:01"]), nil, attachment(netns), 7),
            ("bad offloads", config("1.0.0", ["offloads": "tso4"]), nil, attachment(netns), 7),
            ("bad header size", config("1.0.0", ["vnetHdrSize": 11]), nil, attachment(netns), 7),
            ("SELinux label", config("1.0.0", ["selinuxContext": "system_u:object_r:tun_tap_device_t:s0"]), nil, attachment(netns), 2),
            ("IPAM without a plugin", config("1.0.0", ["ipam": ["type": "no-such-ipam"]]), nil, attachment(netns), 7),
        ]
        for (what, config, text, environment, code) in cases {
            let answer = try config.map { try cni("ADD", $0, environment) } ?? cni("ADD", text: text ?? "", environment)
            XCTAssertEqual(answer.status, 1, what)
            XCTAssertEqual(answer.code, code, "\(what): \(answer.output)")
            XCTAssertNotNil(answer.json["msg"] as? String, what)
            XCTAssertNotNil(answer.json["details"] as? String, what)
        }
        XCTAssertNil(try sandboxLink(netns, "tap0"), "no failure left a device")

        XCTAssertEqual(try cni("ADD", config("1.0.0", ["unknownKey": [1, 2]]), attachment(netns)).status, 0, "unknown keys are ignored")
        XCTAssertEqual(try cni("ADD", config("1.0.0"), attachment(netns)).code, 100, "ADD fails when the interface exists")
        XCTAssertNotNil(try sandboxLink(netns, "tap0"), "and leaves it alone")

        // A device of the same name that this plugin did not make is not its to check or delete.
        XCTAssertEqual(inSandbox(netns, "ip", "tuntap", "add", "tap9", "mode", "tap").status, 0)
        var check = config("1.0.0")
        check["prevResult"] = ["cniVersion": "1.0.0", "interfaces": [["name": "tap9", "sandbox": netns]]]
        XCTAssertEqual(try cni("CHECK", check, attachment(netns, "c1", "tap9")).code, 102)
        XCTAssertEqual(try cni("DEL", config("1.0.0"), attachment(netns, "c1", "tap9")).status, 0)
        XCTAssertNotNil(try sandboxLink(netns, "tap9"), "DEL left a device it did not make")
        XCTAssertEqual(try cni("NONSENSE", config("1.0.0"), attachment(netns)).code, 4)
    }

    func testPrevResultPassesThroughWithUnknownFieldsKept() throws {
        let netns = try sandbox()
        let previous = #"{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"\#(netns)","x-vendor":{"n":2.50e3}}],"#
            + #""ips":[{"address":"10.0.0.2/24","interface":0}],"dns":{"nameservers":["10.0.0.1"]},"x-top":[true,null]}"#
        let text = #"{"cniVersion":"1.0.0","name":"vmnet","type":"tapctl","dataDir":"\#(scratch)/data","prevResult":\#(previous)}"#
        let added = try cni("ADD", text: text, attachment(netns))
        XCTAssertEqual(added.status, 0, added.output)
        XCTAssertTrue(added.output.contains(#""x-vendor":{"n":2.50e3}"#), "numbers kept as written: \(added.output)")
        XCTAssertTrue(added.output.contains(#""x-top":[true,null]"#))
        let interfaces = added.json["interfaces"] as? [[String: Any]] ?? []
        XCTAssertEqual(interfaces.map { $0["name"] as? String }, ["eth0", "tap0"], "the tap appended")
        XCTAssertEqual((added.json["ips"] as? [[String: Any]])?.first?["address"] as? String, "10.0.0.2/24")
    }

    func testGarbageCollectionRemovesOnlyStaleAttachmentsItMade() throws {
        let first = try sandbox(), second = try sandbox()
        XCTAssertEqual(try cni("ADD", config("1.1.0"), attachment(first, "keep")).status, 0)
        XCTAssertEqual(try cni("ADD", config("1.1.0"), attachment(second, "stale")).status, 0)
        XCTAssertEqual(inSandbox(second, "ip", "tuntap", "add", "foreign0", "mode", "tap").status, 0)
        var gc = config("1.1.0")
        gc["cni.dev/valid-attachments"] = [["containerID": "keep", "ifname": "tap0"]]
        let answer = try cni("GC", gc, ["CNI_PATH": "/usr/lib/cni"])
        XCTAssertEqual(answer.status, 0, answer.output)
        XCTAssertEqual(answer.output, "", "no output on success")
        XCTAssertNotNil(try sandboxLink(first, "tap0"), "a valid attachment stays")
        XCTAssertNil(try sandboxLink(second, "tap0"), "a stale one goes")
        XCTAssertNotNil(try sandboxLink(second, "foreign0"), "a device tapctl did not make stays")
        let records = try FileManager.default.contentsOfDirectory(atPath: scratch + "/data/vmnet")
        XCTAssertEqual(records, ["keep-tap0"])
    }

    func testStatus() throws {
        let answer = try cni("STATUS", config("1.1.0"))
        XCTAssertEqual(answer.status, 0, answer.output)
        XCTAssertEqual(answer.output, "")
    }

    func testChainedWithHostLocal() throws {
        let netns = try sandbox()
        let ipam: [String: Any] = ["type": "host-local", "dataDir": scratch + "/ipam", "subnet": "10.77.0.0/24",
                                   "routes": [["dst": "0.0.0.0/0"]]]
        let added = try cni("ADD", config("1.0.0", ["ipam": ipam]), attachment(netns))
        XCTAssertEqual(added.status, 0, added.output)
        let ip = (added.json["ips"] as? [[String: Any]])?.first ?? [:]
        XCTAssertEqual(ip["address"] as? String, "10.77.0.2/24")
        XCTAssertEqual(ip["interface"] as? Int, 0, "the index of the tap in interfaces")
        XCTAssertTrue(inSandbox(netns, "ip", "addr", "show", "tap0").stdout.contains("inet 10.77.0.2/24"))
        XCTAssertTrue(inSandbox(netns, "ip", "route").stdout.contains("default via 10.77.0.1 dev tap0"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: scratch + "/ipam/vmnet/10.77.0.2"), "leased")
        var checked = config("1.0.0", ["ipam": ipam])
        checked["prevResult"] = added.json
        XCTAssertEqual(try cni("CHECK", checked, attachment(netns)).status, 0)
        XCTAssertEqual(try cni("DEL", config("1.0.0", ["ipam": ipam]), attachment(netns)).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch + "/ipam/vmnet/10.77.0.2"), "released")
    }

    /// Chained after Debian's bridge plugin, redirect mode hands the sandbox's
    /// address to the tap: TapResponder on the tap answers ping from the
    /// bridge's side, though the sandbox's own stack holds the address too.
    func testRedirectModeGivesTheTapTheSandboxsAddress() throws {
        let netns = try sandbox()
        let bridge: [String: Any] = ["cniVersion": "1.0.0", "name": "vmnet", "type": "bridge", "bridge": "cnibr0", "isGateway": true,
                                     "ipam": ["type": "host-local", "dataDir": scratch + "/ipam", "subnet": "10.78.0.0/24"]]
        let environment = attachment(netns, "vm1", "eth0")
        let made = try runPlugin("/usr/lib/cni/bridge", "ADD", bridge, environment)
        XCTAssertEqual(made.status, 0, made.output)
        let redirect = config("1.0.0", ["redirect": true, "prevResult": made.json])
        let added = try cni("ADD", redirect, environment)
        XCTAssertEqual(added.status, 0, added.output)
        let names = (added.json["interfaces"] as? [[String: Any]] ?? []).map { $0["name"] as? String }
        XCTAssertEqual(names.last, "tap0")

        let responder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("TapResponder").path
        let running = try XCTUnwrap(start(["nsenter", "--net=" + netns, responder, "tap0", "10.78.0.2", "3", "60"]))
        var ping = spawn(["ping", "-c", "3", "-W", "2", "10.78.0.2"])
        // The responder may not have opened its queue when the first ping left.
        if ping.status != 0 { ping = spawn(["ping", "-c", "3", "-W", "2", "10.78.0.2"]) }
        let responded = running.wait()
        XCTAssertEqual(responded.status, 0, responded.stdout + responded.stderr)
        XCTAssertTrue(responded.stdout.contains("and 3 echo requests"), "the tap, not the sandbox's stack, answered: \(responded.stdout)")

        XCTAssertEqual(try cni("DEL", redirect, environment).status, 0)
        XCTAssertNil(try sandboxLink(netns, "tap0"))
        XCTAssertFalse(inSandbox(netns, "tc", "qdisc", "show", "dev", "eth0").stdout.contains("ingress"), "the redirect removed")
        XCTAssertEqual(try runPlugin("/usr/lib/cni/bridge", "DEL", bridge, environment).status, 0)
        _ = spawn(["ip", "link", "del", "cnibr0"])
    }

    /// A real runtime: podman (CNI backend, runc, cgroupfs) runs a busybox
    /// container on a network whose plugin is tapctl, installed as a symlink
    /// in a plugin directory, in this test's network namespace.
    func testPodmanRunsAContainerOnATapctlNetwork() throws {
        let guest = ProcessInfo.processInfo.environment["TAPCTL_GUEST"] ?? ".build/guest"
        let debs = try FileManager.default.contentsOfDirectory(atPath: guest + "/debs")
        let busybox = try XCTUnwrap(debs.first { $0.hasPrefix("busybox-static_") }, "make guest fetches busybox-static")
        for folder in ["bin", "net.d", "root", "runroot", "rootfs/bin", "unpacked"] {
            try FileManager.default.createDirectory(atPath: scratch + "/" + folder, withIntermediateDirectories: true)
        }
        XCTAssertEqual(spawn(["dpkg-deb", "-x", guest + "/debs/" + busybox, scratch + "/unpacked"]).status, 0)
        try FileManager.default.copyItem(atPath: scratch + "/unpacked/bin/busybox", toPath: scratch + "/rootfs/bin/busybox")
        for applet in ["sh", "cat", "ls"] {
            try FileManager.default.createSymbolicLink(atPath: scratch + "/rootfs/bin/" + applet, withDestinationPath: "busybox")
        }
        try FileManager.default.createSymbolicLink(atPath: scratch + "/bin/tapctl", withDestinationPath: Self.binary)
        try """
            [network]
            network_backend = "cni"
            cni_plugin_dirs = ["\(scratch)/bin"]
            network_config_dir = "\(scratch)/net.d"

            [engine]
            runtime = "runc"
            cgroup_manager = "cgroupfs"
            """.write(toFile: scratch + "/containers.conf", atomically: true, encoding: .utf8)
        try #"{"cniVersion":"1.0.0","name":"tapnet","plugins":[{"type":"tapctl","mtu":1400,"queues":2,"vnetHdr":true,"#
            .appending(#""dataDir":"\#(scratch)/data"}]}"#)
            .write(toFile: scratch + "/net.d/tapnet.conflist", atomically: true, encoding: .utf8)
        // `ip netns exec`, which made this test's namespace, mounted a sysfs
        // without /sys/fs/cgroup: podman gets the hierarchies back in a mount
        // namespace of its own.
        let cgroups = """
            set -e
            if [ "$(cut -d: -f2 /proc/self/cgroup | sort -u)" = "" ]; then
                mount -t cgroup2 cgroup2 /sys/fs/cgroup
            else
                mount -t tmpfs cgroup_root /sys/fs/cgroup
                while IFS=: read -r id controllers path; do
                    [ -n "$controllers" ] || continue
                    mkdir -p "/sys/fs/cgroup/${controllers#name=}"
                    mount -t cgroup -o "$controllers" cgroup "/sys/fs/cgroup/${controllers#name=}"
                done < /proc/self/cgroup
            fi
            exec "$@"
            """
        let podman = ["env", "CONTAINERS_CONF=\(scratch)/containers.conf", "unshare", "--mount", "--propagation", "private",
                      "sh", "-c", cgroups, "sh", "podman", "--root", scratch + "/root", "--runroot", scratch + "/runroot",
                      "--cgroup-manager", "cgroupfs", "--runtime", "runc"]
        XCTAssertEqual(spawn(["tar", "-C", scratch + "/rootfs", "-cf", scratch + "/rootfs.tar", "."]).status, 0)
        let imported = spawn(podman + ["import", scratch + "/rootfs.tar", "localhost/tapctl-busybox"])
        XCTAssertEqual(imported.status, 0, imported.stderr)
        let ran = spawn(podman + ["run", "--rm", "--network", "tapnet", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                                  "localhost/tapctl-busybox", "sh", "-c",
                                  "cat /sys/class/net/eth0/tun_flags /sys/class/net/eth0/mtu; ls /sys/class/net"])
        XCTAssertEqual(ran.status, 0, ran.stderr)
        let lines = ran.stdout.split(separator: "\n").map(String.init)
        // IFF_TAP | IFF_NO_PI | IFF_PERSIST | IFF_MULTI_QUEUE | IFF_VNET_HDR
        XCTAssertEqual(lines.first, "0x5902", "a multiqueue tap with a vnet header: \(ran.stdout)")
        XCTAssertEqual(lines.dropFirst().first, "1400")
        XCTAssertEqual(Set(lines.dropFirst(2)), ["eth0", "lo"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch + "/data/tapnet"), [], "no record left")
        XCTAssertEqual(spawn(podman + ["ps", "-aq"]).stdout, "", "no container left")
        XCTAssertTrue(try tunLinks().isEmpty, "no device left here")
        _ = spawn(podman + ["rmi", "-a"])
    }

    private func runPlugin(_ path: String, _ command: String, _ config: [String: Any], _ environment: [String: String]) throws -> Answer {
        try run(path, command, text: String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self), environment)
    }
}
