import XCTest
import Glibc
@testable import TapCore

final class FaultInjectionTests: XCTestCase {
    private func request(owner: CreateRequest.Owner = .user(1000), group: gid_t? = 27) throws -> CreateRequest {
        var request = CreateRequest(name: try InterfaceName("tap0"))
        request.owner = owner
        request.group = group
        return request
    }

    func testCreateSetsOwnerAndGroupBeforePersist() throws {
        let kernel = FakeKernel()
        let result = try TapControl(system: kernel.system).create(try request())
        XCTAssertEqual(result.name, "tap0")
        XCTAssertTrue(result.created)
        // Checked as made (one RTM_GETLINK) before persist.
        XCTAssertEqual(kernel.calls, ["open", "TUNSETIFF", "TUNSETOWNER", "TUNSETGROUP", "TUNGETIFF", "socket", "RTM_GETLINK",
                                      "TUNSETPERSIST"])
        XCTAssertEqual(kernel.closedFiles, [100])
    }

    func testNoOwnerSkipsTUNSETOWNER() throws {
        let kernel = FakeKernel()
        _ = try TapControl(system: kernel.system).create(try request(owner: .none, group: nil))
        XCTAssertEqual(kernel.calls, ["open", "TUNSETIFF", "TUNGETIFF", "socket", "RTM_GETLINK", "TUNSETPERSIST"])
    }

    func testEINTRIsRetriedEverywhere() throws {
        let kernel = FakeKernel()
        for call in ["open", "TUNSETIFF", "TUNSETOWNER", "TUNSETGROUP", "TUNSETPERSIST"] {
            kernel.failures[call] = [.EINTR, .EINTR]
        }
        XCTAssertEqual(try TapControl(system: kernel.system).create(try request()).name, "tap0")
        XCTAssertEqual(kernel.calls.filter { $0 == "TUNSETPERSIST" }.count, 3)
        XCTAssertEqual(kernel.closedFiles, [100])
    }

    /// A failure at each call after TUNSETIFF must stop before TUNSETPERSIST and
    /// close the descriptor, which removes the not yet persistent device.
    func testEveryFailureStopsBeforePersistAndCloses() throws {
        let expected: [String: TapError] = [
            "TUNSETOWNER": .unmappedID("uid 1000"),
            "TUNSETGROUP": .unmappedID("gid 27"),
            "TUNSETPERSIST": .system("TUNSETPERSIST", .EINVAL),
        ]
        for (call, error) in expected {
            let kernel = FakeKernel()
            kernel.failures[call] = [.EINVAL]
            XCTAssertThrowsError(try TapControl(system: kernel.system).create(try request()), call) {
                XCTAssertEqual($0 as? TapError, error, call)
            }
            XCTAssertEqual(kernel.calls.last, call, "nothing after the failing \(call)")
            XCTAssertEqual(kernel.closedFiles, [100], call)
        }
        for errno in [Errno.EPERM, .ENOMEM, .EBUSY] {
            let kernel = FakeKernel()
            kernel.failures["TUNSETOWNER"] = [errno]
            XCTAssertThrowsError(try TapControl(system: kernel.system).create(try request())) {
                XCTAssertEqual($0 as? TapError, .system("TUNSETOWNER", errno))
            }
            XCTAssertFalse(kernel.calls.contains("TUNSETPERSIST"))
            XCTAssertEqual(kernel.closed, [100])
        }
    }

    func testTUNSETIFFRefusalsAreDecoded() throws {
        let cases: [(Errno, TapError)] = [
            (.EBUSY, .alreadyExists("tap0")),
            (.EPERM, .needsNetAdmin("tap0")),
            (.EINVAL, .system("TUNSETIFF", .EINVAL)),
        ]
        for (errno, error) in cases {
            let kernel = FakeKernel()
            kernel.failures["TUNSETIFF"] = [errno]
            XCTAssertThrowsError(try TapControl(system: kernel.system).create(try request())) {
                XCTAssertEqual($0 as? TapError, error)
            }
            XCTAssertEqual(kernel.calls, ["open", "TUNSETIFF"])
            XCTAssertEqual(kernel.closed, [100])
        }
    }

    func testOpenFailuresAreDecodedAndCloseNothing() throws {
        for errno in [Errno.ENOENT, .EACCES, .EMFILE] {
            let kernel = FakeKernel()
            kernel.failures["open"] = [errno]
            XCTAssertThrowsError(try TapControl(system: kernel.system).create(try request())) {
                XCTAssertEqual($0 as? TapError, .tunUnavailable(errno))
            }
            XCTAssertEqual(kernel.closed, [])
        }
    }

    func testInterfaceOfDescriptorDecodesRefusals() {
        let cases: [(Errno, TapError)] = [
            (.EBADF, .notOpen(fd: 5)), (.EBADFD, .unattachedDescriptor(fd: 5)),
            (.ENOTTY, .notTunDescriptor(fd: 5)), (.EINVAL, .notTunDescriptor(fd: 5)),
        ]
        for (errno, error) in cases {
            let kernel = FakeKernel()
            kernel.failures["TUNGETIFF"] = [errno]
            XCTAssertThrowsError(try TapControl(system: kernel.system).interface(ofDescriptor: 5)) {
                XCTAssertEqual($0 as? TapError, error)
            }
            XCTAssertEqual(kernel.closed, [], "an inherited descriptor is never closed")
        }
    }
}
