import XCTest
import Glibc
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

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
            kernel.failures[call] = [.interrupted, .interrupted]
        }
        XCTAssertEqual(try TapControl(system: kernel.system).create(try request()).name, "tap0")
        XCTAssertEqual(kernel.calls.filter { $0 == "TUNSETPERSIST" }.count, 3)
        XCTAssertEqual(kernel.closedFiles, [100])
    }

    /// A failure at each call after TUNSETIFF must stop before TUNSETPERSIST and
    /// close the descriptor, which removes the not yet persistent device.
    func testEveryFailureStopsBeforePersistAndCloses() throws {
        let expected: [String: TapError] = [
            "TUNSETOWNER": .unmappedID(uid: 1000, gid: nil),
            "TUNSETGROUP": .unmappedID(uid: nil, gid: 27),
            "TUNSETPERSIST": .system(.ioctl(.TUNSETPERSIST), .invalidArgument),
        ]
        for (call, error) in expected {
            let kernel = FakeKernel()
            kernel.failures[call] = [.invalidArgument]
            XCTAssertThrowsError(try TapControl(system: kernel.system).create(try request()), call) {
                XCTAssertEqual($0 as? TapError, error, call)
            }
            XCTAssertEqual(kernel.calls.last, call, "nothing after the failing \(call)")
            XCTAssertEqual(kernel.closedFiles, [100], call)
        }
        for errno in [Errno.notPermitted, .noMemory, .resourceBusy] {
            let kernel = FakeKernel()
            kernel.failures["TUNSETOWNER"] = [errno]
            XCTAssertThrowsError(try TapControl(system: kernel.system).create(try request())) {
                XCTAssertEqual($0 as? TapError, .system(.ioctl(.TUNSETOWNER), errno))
            }
            XCTAssertFalse(kernel.calls.contains("TUNSETPERSIST"))
            XCTAssertEqual(kernel.closed, [100])
        }
    }

    func testTUNSETIFFRefusalsAreDecoded() throws {
        let cases: [(Errno, TapError)] = [
            (.resourceBusy, .alreadyExists("tap0")),
            (.notPermitted, .needsNetAdmin("tap0")),
            (.invalidArgument, .system(.ioctl(.TUNSETIFF), .invalidArgument)),
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
        for errno in [Errno.noSuchFileOrDirectory, .permissionDenied, .tooManyOpenFiles] {
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
            (.badFileDescriptor, .notOpen(fd: 5)), (.badFileDescriptorState, .unattachedDescriptor(fd: 5)),
            (.inappropriateIOCTLForDevice, .notTunDescriptor(fd: 5)), (.invalidArgument, .notTunDescriptor(fd: 5)),
        ]
        for (errno, error) in cases {
            let kernel = FakeKernel()
            kernel.failures["TUNGETIFF"] = [errno]
            XCTAssertThrowsError(try TapControl(system: kernel.system).interface(ofDescriptor: FileDescriptor(rawValue: 5))) {
                XCTAssertEqual($0 as? TapError, error)
            }
            XCTAssertEqual(kernel.closed, [], "an inherited descriptor is never closed")
        }
    }
}
