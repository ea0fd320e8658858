import XCTest
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

final class CreateKernelTests: KernelTestCase {
    func testPersistentMultiqueueTapOwnedByTheCaller() throws {
        let outcome = tapctl("create", "tap0", "--multiqueue")
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        XCTAssertEqual(outcome.stdout, "tap0\n")
        XCTAssertEqual(outcome.stderr, "")
        let info = try ipTunInfo("tap0")
        XCTAssertEqual(info["type"] as? String, "tap")
        XCTAssertEqual(info["multi_queue"] as? Bool, true)
        XCTAssertEqual(info["persist"] as? Bool, true)
        XCTAssertEqual(info["pi"] as? Bool, false)
        XCTAssertEqual(info["vnet_hdr"] as? Bool, false)
        XCTAssertEqual(info["user"] as? String, "root")
        XCTAssertNil(info["group"])
        XCTAssertEqual(sysfs("tap0", "owner"), "0")
        XCTAssertEqual(sysfs("tap0", "group"), "-1")
        XCTAssertEqual(sysfs("tap0", "tun_flags"), "0x1902")  // tap, multi_queue, persist, no_pi
    }

    func testTemplatesPrintTheNameTheKernelGave() throws {
        XCTAssertEqual(tapctl("create", "vm%d").stdout, "vm0\n")
        XCTAssertEqual(tapctl("create", "vm%d").stdout, "vm1\n")
        XCTAssertEqual(tapctl("create", "x%dy", "--json").stdout, #"{"name":"x0y","created":true,"changed":[]}"# + "\n")
        XCTAssertEqual(try tunLinks().map(\.name).sorted(), ["vm0", "vm1", "x0y"])
    }

    func testTunWithPacketInfoAndVnetHeader() throws {
        XCTAssertEqual(tapctl("create", "tun0", "--tun", "--pi", "--vnet-hdr").status, 0)
        let info = try ipTunInfo("tun0")
        XCTAssertEqual(info["type"] as? String, "tun")
        XCTAssertEqual(info["pi"] as? Bool, true)
        XCTAssertEqual(info["vnet_hdr"] as? Bool, true)
        XCTAssertEqual(info["multi_queue"] as? Bool, false)
        XCTAssertEqual(sysfs("tun0", "tun_flags"), "0x4801")  // tun, persist, vnet_hdr
    }

    func testUserAndGroupByNameAndNumber() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--user", "nobody", "--group", "nogroup").status, 0)
        XCTAssertEqual(sysfs("tap0", "owner"), "65534")
        XCTAssertEqual(sysfs("tap0", "group"), "65534")
        XCTAssertEqual(tapctl("create", "tap1", "--user=1234", "--group=4321").status, 0)
        XCTAssertEqual(sysfs("tap1", "owner"), "1234")
        XCTAssertEqual(sysfs("tap1", "group"), "4321")
        let info = try ipTunInfo("tap1")
        // ip prints a name where there is one, else the number.
        XCTAssertEqual(info["user"] as? Int, 1234)
        XCTAssertEqual(info["group"] as? Int, 4321)
    }

    func testNoOwnerLeavesItOpenAndListSaysSo() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--no-owner").status, 0)
        XCTAssertEqual(sysfs("tap0", "owner"), "-1")
        XCTAssertTrue(tapctl("list", "--json").stdout.contains(#""any_user_can_attach":true"#))
        XCTAssertTrue(tapctl("list").stdout.contains("ANY USER"))
        XCTAssertTrue(tapctl("show", "tap0").stdout.contains("any local user can attach"))
    }

    func testExistingNameIsAnErrorAndTheDeviceIsUntouched() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--user", "1234").status, 0)
        let again = tapctl("create", "tap0", "--multiqueue")
        XCTAssertEqual(again.status, 5)
        XCTAssertEqual(again.stdout, "")
        XCTAssertEqual(again.stderr,
                       "tapctl: create tap0: already exists; --exist-ok accepts an existing device of the same kind\n")
        XCTAssertEqual(sysfs("tap0", "owner"), "1234")
        XCTAssertEqual(sysfs("tap0", "tun_flags"), "0x1802")
    }

    func testExistOKAcceptsAMatchAndNamesEachDifference() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--multiqueue").status, 0)
        let same = tapctl("create", "tap0", "--multiqueue", "--exist-ok", "--json")
        XCTAssertEqual(same.status, 0, same.stderr)
        XCTAssertEqual(same.stdout, #"{"name":"tap0","created":false,"changed":[]}"# + "\n")
        XCTAssertEqual(tapctl("create", "tap0", "--multiqueue", "--exist-ok").stdout, "tap0\n")

        let differs = tapctl("create", "tap0", "--tun", "--exist-ok")
        XCTAssertEqual(differs.status, 5)
        XCTAssertEqual(differs.stderr,
                       "tapctl: create tap0: already exists, but it is a tap device, not tun, and it is multiqueue\n")
        let owner = tapctl("create", "tap0", "--multiqueue", "--exist-ok", "--user", "1234", "--group", "5")
        XCTAssertEqual(owner.status, 5)
        XCTAssertEqual(owner.stderr,
                       "tapctl: create tap0: already exists, but its owner is uid 0, not uid 1234, and its group is unset, not gid 5\n")
        XCTAssertEqual(sysfs("tap0", "owner"), "0", "a mismatch changes nothing")

        let lo = tapctl("create", "lo", "--exist-ok")
        XCTAssertEqual(lo.status, 5)
        XCTAssertEqual(lo.stderr, "tapctl: create lo: already exists, but it is not a tun/tap device\n")
    }

    func testWithoutNetAdminCreateFailsAndSaysWhy() throws {
        let outcome = tapctl("create", "tap0", prefix: Self.withoutNetAdmin)
        XCTAssertEqual(outcome.status, 3)
        XCTAssertEqual(outcome.stderr, "tapctl: create tap0: creating a device needs CAP_NET_ADMIN; run it as root, "
                       + "or have root create the device with --user YOU: its owner can then attach without CAP_NET_ADMIN\n")
        XCTAssertEqual(try tunLinks(), [])
        let nobody = tapctl("create", "tap0", prefix: Self.nobody)
        XCTAssertEqual(nobody.status, 3, "EACCES on /dev/net/tun or EPERM on TUNSETIFF: " + nobody.stderr)
        XCTAssertEqual(try tunLinks(), [])
    }

    /// In a user namespace uid 5000 has no mapping, so TUNSETOWNER fails after
    /// TUNSETIFF made the device: the device must be gone afterwards.
    func testFailedOwnerRollsTheDeviceBack() throws {
        let script = "\(Self.binary) create tap0 --user 5000; echo status=$?; ip -o link show type tun | wc -l"
        let outcome = spawn(["unshare", "--user", "--map-root-user", "--net", "sh", "-c", script])
        XCTAssertEqual(outcome.stderr, "tapctl: create tap0: uid 5000 has no mapping in this user namespace\n")
        XCTAssertEqual(outcome.stdout, "status=1\n0\n")
    }

    func testUnknownUserOrGroupIsAUsageErrorAndCreatesNothing() throws {
        let user = tapctl("create", "tap0", "--user", "no-such-user-tapctl")
        XCTAssertEqual(user.status, 2)
        XCTAssertEqual(user.stderr, "tapctl: create tap0: no user named 'no-such-user-tapctl'\n")
        let group = tapctl("create", "tap0", "--group", "no-such-group-tapctl")
        XCTAssertEqual(group.status, 2)
        XCTAssertEqual(group.stderr, "tapctl: create tap0: no group named 'no-such-group-tapctl'\n")
        XCTAssertEqual(try tunLinks(), [])
    }

    func testBadNamesChangeNothing() throws {
        let bad = ["", "1234567890123456", "a/b", "a b", "a\tb", "a:b", ".", "..", "a%d%d", "tap%02d", "%s", "x%"]
        for name in bad {
            let outcome = tapctl("create", name)
            XCTAssertEqual(outcome.status, 2, "'\(name)': \(outcome.stderr)")
            // The name is the subject, control characters shown as \xNN.
            let shown = name.isEmpty ? "" : " " + name.replacingOccurrences(of: "\t", with: "\\x09")
            XCTAssertTrue(outcome.stderr.hasPrefix("tapctl: create\(shown): the name "), outcome.stderr)
            XCTAssertEqual(outcome.stderr.filter { $0 == "\n" }.count, 1, "one line")
        }
        XCTAssertEqual(try tunLinks(), [])
        XCTAssertNil(try link("123456789012345"), "the 15-byte prefix was not made either")
    }

    /// Re-running a launcher converges: --exist-ok applies the link settings
    /// given and says so on standard error, the name alone on standard out.
    /// Joining a bridge without --mtu takes the bridge's.
    func testExistOKAppliesTheLinkSettingsGiven() throws {
        XCTAssertEqual(tapctl("create", "vm0", "--mtu", "9000").status, 0)
        let again = tapctl("create", "vm0", "--mtu", "1500", "--up", "--exist-ok")
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(again.stdout, "vm0\n")
        XCTAssertEqual(again.stderr, "tapctl: create vm0: exists; changed mtu 9000 -> 1500, down -> up\n")
        XCTAssertEqual(try anyLink("vm0")?.mtu, 1500)
        XCTAssertEqual(tapctl("create", "vm0", "--mtu", "1500", "--exist-ok").stderr, "", "nothing to change, nothing said")
        XCTAssertEqual(spawn(["ip", "link", "add", "br9", "type", "bridge"]).status, 0)
        defer { _ = spawn(["ip", "link", "del", "br9"]) }
        XCTAssertEqual(spawn(["ip", "link", "set", "br9", "mtu", "9000"]).status, 0)
        XCTAssertEqual(tapctl("create", "vm1", "--bridge", "br9").status, 0)
        XCTAssertEqual(try anyLink("vm1")?.mtu, 9000, "the bridge's MTU")
        XCTAssertEqual(tapctl("create", "vm2", "--bridge", "br9", "--mtu", "1500").status, 0)
        XCTAssertEqual(try anyLink("vm2")?.mtu, 1500, "unless --mtu says otherwise")
    }
}
