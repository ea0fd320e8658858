import XCTest
import Glibc
@testable import TapCore
@testable import tapctl
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

/// Every system call of an operation failed in turn, with each errno (exec is
/// open+place followed by the exec itself, send open+send): the
/// operation must fail cleanly (a typed error with a sentence, never a crash),
/// close every descriptor it opened, and never make a device persistent
/// without its owner and group. EINTR at any position must change nothing.
final class FaultSweepTests: XCTestCase {
    private static let errnos: [Errno] = [.notPermitted, .resourceBusy, .noMemory, .invalidArgument]

    /// Runs `operation` once clean to count its calls, then once per call and errno.
    private func sweep(_ name: String, setup: (FakeKernel) -> Void = { _ in },
                       _ operation: (TapControl) throws -> Void) -> Int {
        let clean = FakeKernel()
        setup(clean)
        XCTAssertNoThrow(try operation(TapControl(system: clean.system)), "\(name) without faults")
        var positions = 0
        for position in 0..<clean.position {
            // EINTR is retried by the system call layer; a netlink answer is the kernel's verdict.
            for errno in Self.errnos + (clean.netlinkPositions.contains(position) ? [] : [.interrupted]) {
                let kernel = FakeKernel()
                setup(kernel)
                kernel.failAt = position
                kernel.failWith = errno
                do {
                    try operation(TapControl(system: kernel.system))
                } catch let error as TapError {
                    XCTAssertNotEqual(errno, .interrupted, "\(name): EINTR at call \(position) was not retried: \(error)")
                    // A raw system error names its call and carries the injected errno, never another.
                    if case .system(let call, let reported) = error {
                        XCTAssertEqual(reported, errno, "\(name) at call \(position)")
                        XCTAssertEqual(error.message, "\(call.text) failed: \(errno)")
                    }
                    XCTAssertFalse(error.message.isEmpty)
                } catch {
                    XCTFail("\(name): untyped error \(error)")
                }
                let opened = Set((0..<kernel.opened.count).map { CInt(100 + $0) })
                XCTAssertTrue(opened.isSubset(of: Set(kernel.closedFiles)),
                              "\(name): fd leaked with \(errno) at call \(position) (\(kernel.calls))")
                if let persist = kernel.calls.firstIndex(of: "TUNSETPERSIST"), kernel.calls.contains("TUNSETOWNER") {
                    XCTAssertLessThan(kernel.calls.firstIndex(of: "TUNSETOWNER") ?? .max, persist, name)
                }
                positions += 1
            }
        }
        return positions
    }

    func testEveryPositionOfEveryOperation() throws {
        var request = CreateRequest(name: try InterfaceName("tap0"))
        request.owner = .user(1000)
        request.group = 27
        request.multiQueue = true
        var handoff = HandoffRequest(name: try InterfaceName("vm0"))
        handoff.queues = 2
        handoff.vhostNet = true
        handoff.create = CreateRequest(name: try InterfaceName("vm0"))
        handoff.vnetHeaderSize = 12
        var settings = LinkSettings()
        settings.mtu = 9000
        settings.up = true
        var total = 0
        total += sweep("create") { _ = try $0.create(request) }
        total += sweep("exec/send open and place") { control in
            var opened = try control.open(handoff)
            try opened.place(from: 3)
        }
        total += sweep("send") { control in
            try control.open(handoff).send(to: "/run/vmm.sock", timeout: 1000)
        }
        total += sweep("set") { _ = try $0.set(settings, on: .name(try InterfaceName("tap0"))) }
        total += sweep("delete", setup: { $0.deviceQueues = 0 }) { _ = try $0.delete(.names([try InterfaceName("tap0")])) }
        total += sweep("offload") { control in
            _ = try control.setOffloads([.csum, .tso4], on: TunDescriptor(5, system: control.system))
        }
        total += sweep("queue detach") { _ = try $0.setQueue(attached: false, fd: FileDescriptor(rawValue: 5)) }
        total += sweep("vnet-hdr-size") { control in
            _ = try control.setVnetHeaderSize(12, on: TunDescriptor(5, system: control.system))
        }
        print("fault injection: \(total) positions (call × errno) covered")
        XCTAssertGreaterThan(total, 100)
    }
}
