import XCTest
import Foundation
import Glibc
@testable import TapCore

/// Privileged-helper mode for real: a setuid-root copy and a cap_net_admin copy
/// of tapctl run by uid 65534, with an access list. Each run gets a private
/// mount namespace: /etc is an overlay holding the test's /etc/tapctl/acl and
/// /dev/net/tun a 0666 node, so the host's /etc and device are never touched.
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
        _ = spawn(["ip", "link", "del", "br0"])
        XCTAssertEqual(spawn(["ip", "link", "add", "br0", "type", "bridge"]).status, 0)
        // Set after creation, so the kernel keeps it when ports come and go.
        XCTAssertEqual(spawn(["ip", "link", "set", "br0", "mtu", "1400"]).status, 0)
    }

    override func tearDownWithError() throws {
        _ = spawn(["ip", "link", "del", "br0"])
        _ = spawn(["rm", "-rf", directory])
        try super.tearDownWithError()
    }

    private static let rules = """
        allow user:nobody device vm-nobody-*
        allow all device tap*
        allow group:nogroup bridge br0
        deny user:nobody device vm-nobody-9
        """

    /// Runs `arguments` as uid 65534 with `acl` (nil: no file) in place.
    private func asNobody(_ arguments: [String], acl: String? = rules, fds: [CInt: CInt] = [:]) -> Outcome {
        let run = "\(directory)/run-\(UInt32.random(in: 0...UInt32.max))"
        let script = """
            set -e
            mkdir -p "$R/upper" "$R/work"
            if [ -n "$ACL" ]; then mkdir "$R/upper/tapctl"; printf '%s\\n' "$ACL" > "$R/upper/tapctl/acl"; fi
            mount -t overlay overlay -o lowerdir=/etc,upperdir="$R/upper",workdir="$R/work" /etc
            mknod -m 0666 "$R/tun" c 10 200
            mount --bind "$R/tun" /dev/net/tun
            unset ACL R
            exec setpriv --reuid=65534 --regid=65534 --init-groups -- "$@"
            """
        return spawn(["env", "R=\(run)", "ACL=\(acl ?? "")", "unshare", "--mount", "--propagation", "private",
                      "sh", "-c", script, "sh"] + arguments, fds: fds)
    }

    func testAllowDenyAndOwnership() throws {
        for copy in [setuidCopy, capabilityCopy] {
            let made = asNobody([copy, "create", "vm-nobody-1", "--up"])
            XCTAssertEqual(made.status, 0, made.stderr)
            XCTAssertEqual(try link("vm-nobody-1")?.owner, 65534, "owned by the real user")
            let denied = asNobody([copy, "create", "vm-nobody-9"])
            XCTAssertEqual(denied.status, 3)
            XCTAssertEqual(denied.stderr, "tapctl: create vm-nobody-9: /etc/tapctl/acl does not allow uid 65534 this device\n")
            XCTAssertEqual(asNobody([copy, "create", "other0"]).status, 3, "no rule: no")
            XCTAssertEqual(asNobody([copy, "create", "vm-nobody-2", "--user", "root"]).stderr,
                           "tapctl: create: in privileged-helper mode only you (uid 65534) can own what tapctl makes\n")
            XCTAssertEqual(asNobody([copy, "create", "vm-nobody-2", "--no-owner"]).status, 3)
            let deleted = asNobody([copy, "delete", "vm-nobody-1"])
            XCTAssertEqual(deleted.status, 0, deleted.stderr)
        }
        XCTAssertEqual(tapctl("create", "vm-nobody-5").status, 0, "root's, in an allowed name")
        let theirs = asNobody([setuidCopy, "offload", "vm-nobody-5", "csum"])
        XCTAssertEqual(theirs.status, 3)
        XCTAssertEqual(theirs.stderr, "tapctl: offload vm-nobody-5: it belongs to uid 0, not uid 65534\n")
        XCTAssertEqual(asNobody([setuidCopy, "delete", "--all"]).stderr,
                       "tapctl: delete: in privileged-helper mode, name the devices to delete\n")
        XCTAssertEqual(try link("vm-nobody-5")?.persistent, true)
    }

    func testAMissingOrMalformedListAllowsNothing() throws {
        let missing = asNobody([setuidCopy, "create", "vm-nobody-1"], acl: nil)
        XCTAssertEqual(missing.status, 3)
        XCTAssertEqual(missing.stderr,
                       "tapctl: create: privileged-helper mode allows nothing without /etc/tapctl/acl (No such file or directory)\n")
        let malformed = asNobody([setuidCopy, "create", "vm-nobody-1"], acl: "allow all device *\nallow bob")
        XCTAssertEqual(malformed.status, 3)
        XCTAssertEqual(malformed.stderr, "tapctl: create: /etc/tapctl/acl line 2: a rule has four words: "
                       + "allow|deny WHO device|bridge PATTERN; privileged-helper mode allows nothing until it is fixed\n")
        XCTAssertEqual(try tunLinks(), [])
        XCTAssertEqual(asNobody([setuidCopy, "list"], acl: nil).status, 0, "reading needs no rule")
        XCTAssertEqual(asNobody([setuidCopy, "probe"], acl: "allow all bridge br0").stderr,
                       "tapctl: probe tapctl%d: /etc/tapctl/acl does not allow uid 65534 this device\n", "its throwaway tap is a device")
        XCTAssertEqual(asNobody([setuidCopy, "probe"], acl: "allow all device tapctl*").status, 0)
    }

    /// The helper mode keeps CAP_NET_ADMIN alone and hands a program nothing.
    func testExecInHelperModeLeavesNoCapability() throws {
        XCTAssertEqual(asNobody([setuidCopy, "create", "vm-nobody-1", "--multiqueue"]).status, 0)
        let child = asNobody([setuidCopy, "exec", "vm-nobody-1", "--queues", "2", "--", ExecKernelTests.helper, "report"])
        XCTAssertEqual(child.status, 0, child.stderr)
        let report = try JSONSerialization.jsonObject(with: Data(child.stdout.utf8)) as? [String: Any] ?? [:]
        XCTAssertEqual(report["uid"] as? Int, 65534)
        XCTAssertEqual(report["euid"] as? Int, 65534)
        let status = report["status"] as? [String: String] ?? [:]
        for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] { XCTAssertEqual(status[set], "0000000000000000", set) }
        XCTAssertEqual(status["NoNewPrivs"], "1", "forced in helper mode")
    }

    /// QEMU's bridge helper protocol: the tap's descriptor arrives over the
    /// inherited socket, on the bridge, up, with the bridge's MTU.
    func testBridgeHelperProtocol() throws {
        for (copy, vnet) in [(setuidCopy, true), (Self.binary, false)] {
            var pair: [CInt] = [-1, -1]
            XCTAssertEqual(socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0, &pair), 0)
            defer { close(pair[0]) }
            let arguments = [copy, "bridge-helper"] + (vnet ? ["--use-vnet"] : []) + ["--fd=5", "--br=br0"]
            let outcome = copy == Self.binary ? spawn(arguments, fds: [5: pair[1]]) : asNobody(arguments, fds: [5: pair[1]])
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
        let refused = asNobody([setuidCopy, "bridge-helper", "--fd=5", "--br=br1"], fds: [5: 1])
        XCTAssertEqual(refused.status, 3)
        XCTAssertEqual(refused.stderr, "tapctl: bridge-helper br1: /etc/tapctl/acl does not allow uid 65534 this bridge\n")
    }
}
