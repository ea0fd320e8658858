import XCTest
@testable import TapCore
@testable import tapctl
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

final class TapErrorTests: XCTestCase {
    func testMessagesDecodeTheKernelsReason() {
        let holders = [Holder(pid: 42, command: "qemu-system-x86", fd: 7), Holder(pid: 43, command: "sh", fd: 3)]
        let cases: [(TapError, String, TapError.Category)] = [
            (.alreadyExists("tap0"), "already exists", .exists),
            (.existsDifferently("tap0", differences: [SettingChange("mode", .text("tun"), .text("tap")), SettingChange("multi_queue", .flag(true), .flag(false))]),
             "already exists, but it is a tun device, not tap, and it is multiqueue", .exists),
            (.notFound("tap0"), "no such device", .notFound),
            (.notTunTap("lo", kind: nil), "lo is not a tun/tap device", .notFound),
            (.notTunTap("br0", kind: "bridge"), "br0 is not a tun/tap device (it is a bridge device)", .notFound),
            (.inUse("tap0", holders: holders),
             "in use by pid 42 (qemu-system-x86, fd 7), pid 43 (sh, fd 3)", .busy),
            (.inUse("tap0", holders: []), "in use by a process this caller cannot see", .busy),
            (.needsNetAdmin("tap0"), "creating a device needs CAP_NET_ADMIN", .permission),
            (.notPermitted("tap0", owner: 1000, group: nil),
             "needs CAP_NET_ADMIN or ownership of tap0 (owner uid 1000)", .permission),
            (.notPermitted("tap0", owner: 1000, group: 27),
             "needs CAP_NET_ADMIN or ownership of tap0 (owner uid 1000, group gid 27)", .permission),
            (.tunUnavailable(.noSuchFileOrDirectory), "/dev/net/tun does not exist", .failure),
            (.tunUnavailable(.permissionDenied), "cannot open /dev/net/tun: permission denied", .permission),
            (.tunUnavailable(.operationNotSupportedByDevice), "the TUN driver is not loaded", .failure),
            (.notOpen(fd: 9), "not open", .notFound),
            (.notTunDescriptor(fd: 0), "not a tun/tap descriptor", .notFound),
            (.unattachedDescriptor(fd: 5), "a tun/tap descriptor attached to no device", .notFound),
            (.inUse("tap0", holders: holders + [Holder(pid: 42, command: "qemu-system-x86", fd: 8)]),
             "in use by pid 42 (qemu-system-x86, 2 queues), pid 43 (sh, fd 3)", .busy),
            (.cannotBecome(uid: 1000, gid: 1000), "becoming uid 1000 (gid 1000) needs CAP_SETUID and CAP_SETGID", .permission),
            (.notASocketFile("/tmp/x"), "/tmp/x is not a socket", .failure),
            (.unknownUser("bob"), "no user named 'bob'", .usage),
            (.unknownGroup("kvmx"), "no group named 'kvmx'", .usage),
            (.unmappedID(uid: 5000, gid: nil), "uid 5000 has no mapping in this user namespace", .failure),
            (.system(.ioctl(.TUNSETPERSIST), .noMemory), "TUNSETPERSIST failed: Cannot allocate memory", .failure),
        ]
        for (error, message, category) in cases {
            XCTAssertEqual(error.message, message)
            XCTAssertEqual(error.category, category, message)
        }
    }

    func testErrnoDescribesItself() {
        XCTAssertEqual(Errno.resourceBusy.description, "Device or resource busy")
        XCTAssertEqual(Errno.notPermitted.rawValue, 1)
    }
}
