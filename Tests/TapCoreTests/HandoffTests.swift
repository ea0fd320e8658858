import XCTest
import Glibc
@testable import TapCore
@testable import tapctl
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

/// exec and send's descriptor handling, with the kernel faked: these machines
/// have no /dev/vhost-net, so this is where vhost-net descriptors are tested.
final class HandoffTests: XCTestCase {
    private func request(queues: Int, vhost: Bool) throws -> HandoffRequest {
        var request = HandoffRequest(name: try InterfaceName("vm0"))
        request.queues = queues
        request.vhostNet = vhost
        request.create = CreateRequest(name: try InterfaceName("vm0"))
        return request
    }

    func testOpensQueuesThenOneVhostNetPerQueue() throws {
        let kernel = FakeKernel()
        let handoff = try TapControl(system: kernel.system).open(try request(queues: 3, vhost: true))
        XCTAssertEqual(kernel.opened, ["/dev/net/tun", "/dev/net/tun", "/dev/net/tun",
                                       "/dev/vhost-net", "/dev/vhost-net", "/dev/vhost-net"])
        XCTAssertEqual(handoff.tapFDs, [100, 101, 102])
        XCTAssertEqual(handoff.vhostFDs, [103, 104, 105])
        XCTAssertEqual(kernel.calls.filter { $0 == "TUNSETIFF" }.count, 3)
        XCTAssertEqual(kernel.calls.filter { $0.hasPrefix("RTM_") }, ["RTM_GETLINK"], "one look for a stranger's queue")
        XCTAssertFalse(kernel.calls.contains("TUNSETPERSIST"), "without --persist the device is transient")
    }

    func testPlacesQueuesThenVhostAtConsecutiveNumbers() throws {
        let kernel = FakeKernel()
        var handoff = try TapControl(system: kernel.system).open(try request(queues: 2, vhost: true))
        try handoff.place(from: 3)
        XCTAssertEqual(handoff.tapFDs, [3, 4])
        XCTAssertEqual(handoff.vhostFDs, [5, 6])
        XCTAssertEqual(kernel.duplicated.map(\.1), [3, 4, 5, 6])
        // The originals and the parked copies are closed; only the placed ones stay.
        XCTAssertEqual(Set(kernel.closedFiles), Set([100, 101, 102, 103] + kernel.duplicated.map(\.0)))
    }

    func testAnInheritedDescriptorInTheRangeIsNeverOverwritten() throws {
        let kernel = FakeKernel()
        kernel.openDescriptors.insert(5)
        var handoff = try TapControl(system: kernel.system).open(try request(queues: 2, vhost: true))
        XCTAssertThrowsError(try handoff.place(from: 3)) { XCTAssertEqual($0 as? TapError, .descriptorTaken(fd: 5)) }
        XCTAssertEqual(kernel.duplicated.count, 0)
        try handoff.place(from: 10)
        XCTAssertEqual(handoff.vhostFDs, [12, 13])
    }

    func testAMissingVhostNetClosesEverythingAndUnpersists() throws {
        let kernel = FakeKernel()
        var request = try request(queues: 2, vhost: true)
        request.persist = true
        let system = kernel.system
        var failing = system
        failing.open = { path, flags in
            if String(cString: path) == "/dev/vhost-net" {
                Errno.current = .noSuchFileOrDirectory
                return -1
            }
            return system.open(path, flags)
        }
        do {
            _ = try TapControl(system: failing).open(request)
            XCTFail("opened without /dev/vhost-net")
        } catch {
            XCTAssertEqual(error, .vhostUnavailable(.noSuchFileOrDirectory))
        }
        XCTAssertEqual(Set(kernel.closedFiles), [100, 101])
        XCTAssertEqual(kernel.calls.filter { $0 == "TUNSETPERSIST" }.count, 2, "persist on, then off again")
    }

    /// A multiqueue device that has a queue besides ours before its owner is
    /// set has a stranger's: it is deleted, never handed over.
    func testAStrangersQueueGetsTheNewDeviceDeleted() throws {
        let kernel = FakeKernel()
        kernel.deviceQueues = 2
        do {
            _ = try TapControl(system: kernel.system).open(try request(queues: 2, vhost: false))
            XCTFail("handed over a device with a stranger's queue")
        } catch {
            XCTAssertEqual(error as? TapError, .intruder("vm0", holders: []))
        }
        XCTAssertEqual(kernel.calls.filter { $0.hasPrefix("RTM_") }, ["RTM_GETLINK", "RTM_DELLINK"])
        XCTAssertEqual(kernel.closedFiles, [100], "our queue closed")
        XCTAssertEqual(TapError.intruder("vm0", holders: [Holder(pid: 9, command: "evil", fd: 3)]).message,
                       "another process, pid 9 (evil), attached a queue before the owner was set; the device was deleted")
    }

    func testTheHeaderDescribesTheMessage() throws {
        let kernel = FakeKernel()
        let handoff = try TapControl(system: kernel.system).open(try request(queues: 2, vhost: true))
        XCTAssertEqual(handoff.header, #"{"version":1,"ifname":"vm0","tap_fds":2,"vhost_fds":2}"# + "\n")
    }
}
