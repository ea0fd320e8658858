import XCTest
import TapCore
import TapDataPath
@testable import tapctl
import SystemPackage
import TapSystem

final class OutputTests: XCTestCase {
    func testJSONIsCompactOrderedAndEscaped() {
        let value = JSON.object([
            ("b", .int(-3)), ("a", .array([.bool(true), .null, .string("x\"y\\z\n\u{1}é")])), ("c", .object([])),
        ])
        XCTAssertEqual(value.text, #"{"b":-3,"a":[true,null,"x\"y\\z\n\u0001é"],"c":{}}"#)
        XCTAssertEqual(JSON.optional(Optional<UInt32>.none), .null)
        XCTAssertEqual(JSON.optional(UInt32(5)), .int(5))
    }

    func testTableAlignsColumns() {
        XCTAssertEqual(table([["NAME", "MODE"], ["tap10", "tap"]]), "NAME   MODE\ntap10  tap")
        XCTAssertEqual(table([]), "")
    }

    func testCoreErrorsBecomeOneLineWithStatusAndHint() {
        let cases: [(TapError, String, String?, String, ExitStatus)] = [
            (.alreadyExists("tap0"), "create", "tap0",
             "tapctl: create tap0: already exists; --exist-ok accepts an existing device of the same kind", .exists),
            (.notTunTap("lo", kind: nil), "delete", nil, "tapctl: delete lo: lo is not a tun/tap device", .notFound),
            (.notFound("tap9"), "delete", nil, "tapctl: delete tap9: no such device; --missing-ok ignores missing devices", .notFound),
            (.inUse("tap0", holders: [Holder(pid: 7, command: "qemu", fd: 4)]), "delete", nil,
             "tapctl: delete tap0: in use by pid 7 (qemu, fd 4); stop that process first", .busy),
            (.needsNetAdmin("tap0"), "create", "tap0",
             "tapctl: create tap0: creating a device needs CAP_NET_ADMIN; run it as root, or have root create the device with --user YOU: its owner can then attach without CAP_NET_ADMIN",
             .permission),
            (.notPermitted("tap0", owner: 1000, group: nil), "delete", nil,
             "tapctl: delete tap0: needs CAP_NET_ADMIN or ownership of tap0 (owner uid 1000); run it as root or as the device's owner",
             .permission),
            (.tunUnavailable(.noSuchFileOrDirectory), "create", "tap0",
             "tapctl: create tap0: /dev/net/tun does not exist; load the tun module (modprobe tun)", .failure),
            (.notOpen(fd: 9), "ifname", nil, "tapctl: ifname fd 9: not open", .notFound),
            (.inUse("tap0", holders: [Holder(pid: 7, command: "qemu", fd: 4)]), "exec", nil,
             "tapctl: exec tap0: in use by pid 7 (qemu, fd 4); tapctl never adds a queue to a device in use", .busy),
            (.inUse("tap0", holders: [Holder(pid: 7, command: "qemu", fd: 4)]), "offload", nil,
             "tapctl: offload tap0: in use by pid 7 (qemu, fd 4); tapctl never adds a queue to a device in use; "
                + "--fd N acts on a queue the holder passes", .busy),
        ]
        for (error, command, subject, line, status) in cases {
            let failure = Failure(error, command: command, subject: subject)
            XCTAssertEqual(failure.line, line)
            XCTAssertEqual(failure.status, status)
            XCTAssertFalse(failure.line.contains("\n"))
        }
        XCTAssertEqual(Failure(.unknownUser("bob"), command: "create", subject: "tap0").line,
                       "tapctl: create tap0: no user named 'bob'")
    }

    func testExitStatusesAreTheDocumentedOnes() {
        XCTAssertEqual([ExitStatus.success, .failure, .usage, .permission, .notFound, .exists, .busy, .changesNeeded].map(\.rawValue),
                       [0, 1, 2, 3, 4, 5, 6, 7])
    }
}
