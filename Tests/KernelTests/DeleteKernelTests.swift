import XCTest
import Glibc
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

final class DeleteKernelTests: KernelTestCase {
    func testDeletesTapTunAndMultiqueueWithoutBeingToldTheMode() throws {
        for arguments in [["tap0"], ["tun0", "--tun"], ["mq0", "--multiqueue"], ["mq1", "--tun", "--multiqueue", "--vnet-hdr"]] {
            XCTAssertEqual(spawn([Self.binary, "create"] + arguments).status, 0)
        }
        let outcome = tapctl("delete", "tap0", "tun0", "mq0", "mq1")
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        XCTAssertEqual(outcome.stdout, "")
        XCTAssertEqual(try tunLinks(), [])
    }

    func testJSONListsWhatWasDeleted() throws {
        XCTAssertEqual(tapctl("create", "tap0").status, 0)
        XCTAssertEqual(tapctl("--json", "delete", "tap0", "gone0", "--missing-ok").stdout, #"{"deleted":["tap0"]}"# + "\n")
    }

    func testRefusesWhatIsNotTunTap() throws {
        let outcome = tapctl("delete", "lo")
        XCTAssertEqual(outcome.status, 4)
        XCTAssertEqual(outcome.stderr, "tapctl: delete lo: lo is not a tun/tap device\n")
        XCTAssertEqual(try ipJSON("link", "show", "dev", "lo").count, 1)
    }

    func testMissingDevices() throws {
        let missing = tapctl("delete", "tap9")
        XCTAssertEqual(missing.status, 4)
        XCTAssertEqual(missing.stderr, "tapctl: delete tap9: no such device; --missing-ok ignores missing devices\n")
        XCTAssertEqual(tapctl("delete", "tap9", "--missing-ok").status, 0)
    }

    func testEveryNameIsCheckedBeforeAnyIsRemoved() throws {
        XCTAssertEqual(tapctl("create", "tap0").status, 0)
        XCTAssertEqual(tapctl("delete", "tap0", "lo").status, 4)
        XCTAssertEqual(tapctl("delete", "tap0", "nope").status, 4)
        XCTAssertNotNil(try link("tap0"))
    }

    func testAHeldDeviceIsReportedWithItsProcessAndKept() throws {
        XCTAssertEqual(tapctl("create", "tap0").status, 0)
        XCTAssertEqual(tapctl("create", "mq0", "--multiqueue").status, 0)
        let queue = try hold("tap0")
        let multi = try hold("mq0", flags: [.tap, .noPI, .multiQueue])
        let command = ProcFS(system: .live).read("/proc/self/comm")?.trimmingCharacters(in: .newlines) ?? "?"
        for name in ["tap0", "mq0"] {
            let outcome = tapctl("delete", name)
            XCTAssertEqual(outcome.status, 6)
            let fd = name == "tap0" ? queue.descriptor.rawValue : multi.descriptor.rawValue
            XCTAssertEqual(outcome.stderr,
                           "tapctl: delete \(name): in use by pid \(getpid()) (\(command), fd \(fd)); stop that process first\n")
            XCTAssertEqual(try link(name)?.persistent, true)
        }
        // Last uses: both queues stay attached until here.
        XCTAssertGreaterThan(queue.descriptor.rawValue, 2)
        XCTAssertGreaterThan(multi.descriptor.rawValue, 2)
    }

    func testTheOwnerMayDeleteWithoutNetAdminButNobodyElse() throws {
        XCTAssertEqual(tapctl("create", "mine").status, 0)
        XCTAssertEqual(tapctl("create", "theirs", "--user", "1234", "--group", "4321").status, 0)
        let own = tapctl("delete", "mine", prefix: Self.withoutNetAdmin)
        XCTAssertEqual(own.status, 0, own.stderr)
        XCTAssertNil(try link("mine"))
        let other = tapctl("delete", "theirs", prefix: Self.withoutNetAdmin)
        XCTAssertEqual(other.status, 3)
        XCTAssertEqual(other.stderr, "tapctl: delete theirs: needs CAP_NET_ADMIN or ownership of theirs "
                       + "(owner uid 1234, group gid 4321); run it as root or as the device's owner\n")
        XCTAssertEqual(try link("theirs")?.persistent, true)
    }

    /// As the owner of one device but not of another, deleting both (or
    /// --all) removes neither: every target is checked before the first goes.
    func testAnOwnersDeleteIsAllOrNothing() throws {
        XCTAssertEqual(tapctl("create", "vmb").status, 0)
        XCTAssertEqual(tapctl("create", "vmr", "--user", "1234").status, 0)
        for arguments in [["delete", "vmb", "vmr"], ["delete", "--all"], ["delete", "--match", "vm*"]] {
            let outcome = spawn(Self.withoutNetAdmin + [Self.binary] + arguments)
            XCTAssertEqual(outcome.status, 3, "\(arguments): \(outcome.stderr)")
            XCTAssertTrue(outcome.stderr.hasPrefix("tapctl: delete vmr: needs CAP_NET_ADMIN or ownership of vmr"), outcome.stderr)
            XCTAssertEqual(try tunLinks().map(\.name).sorted(), ["vmb", "vmr"], "\(arguments): nothing removed")
        }
    }

    func testTemplatesAndBadNamesAreUsageErrors() {
        XCTAssertEqual(tapctl("delete", "tap%d").stderr,
                       "tapctl: delete tap%d: the name is a template; name an existing device\n")
        XCTAssertEqual(tapctl("delete", "a/b").status, 2)
    }
}
