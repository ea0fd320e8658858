import XCTest
import Foundation
import Glibc
import TapCore
import TapDataPath
import SystemPackage
import TapSystem

/// TapQueue on the real TUN driver, through the public API only: every
/// per-queue operation, and the README's example, a Swift responder that
/// `ping` from this namespace gets answers from.
final class TapQueueKernelTests: KernelTestCase {
    static var responder: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("TapResponder").path
    }

    func testPingIsAnsweredBySwiftCodeOnATap() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--vnet-hdr", "--up").status, 0)
        XCTAssertEqual(spawn(["ip", "addr", "add", "10.77.0.1/24", "dev", "tap0"]).status, 0)
        let responder = try XCTUnwrap(start([Self.responder, "tap0", "10.77.0.2", "3", "20"]))
        // Ready when its queue is attached: the tap's carrier goes on.
        for _ in 0..<100 where try TapControl().show(try InterfaceName("tap0")).link.carrier == false { usleep(20_000) }
        let ping = spawn(["ping", "-c", "3", "-i", "0.2", "-W", "5", "10.77.0.2"])
        let outcome = responder.wait()
        XCTAssertEqual(ping.status, 0, ping.stdout + ping.stderr)
        XCTAssertTrue(ping.stdout.contains("3 received"), ping.stdout)
        XCTAssertEqual(outcome.status, 0, outcome.stdout + outcome.stderr)
        XCTAssertTrue(outcome.stdout.contains("header 12 bytes, offloads csum"), outcome.stdout)
        XCTAssertTrue(outcome.stdout.contains("and 3 echo requests"), outcome.stdout)
        print(outcome.stdout, terminator: "")
    }

    func testEveryPerQueueOperation() throws {
        // No IPv6 on it: its router solicitations would be frames nobody asked for.
        XCTAssertEqual(tapctl("create", "mq0", "--multiqueue", "--vnet-hdr").status, 0)
        XCTAssertEqual(spawn(["sysctl", "-qw", "net.ipv6.conf.mq0.disable_ipv6=1"]).status, 0)
        XCTAssertEqual(spawn(["ip", "addr", "add", "10.78.0.1/24", "dev", "mq0"]).status, 0)
        XCTAssertEqual(spawn(["ip", "link", "set", "mq0", "up"]).status, 0)
        var request = HandoffRequest(name: try InterfaceName("mq0"))
        request.queues = 2
        var handoff = try TapControl().open(request)
        guard let first = try handoff.takeQueue(), let second = try handoff.takeQueue() else { return XCTFail("two queues") }
        switch try handoff.takeQueue() {
        case .some: XCTFail("two queues were opened")
        case .none: break
        }
        let third = try first.openAnother()
        XCTAssertEqual(try TapControl().show(try InterfaceName("mq0")).link.queues, 3, "all three are this process's")
        XCTAssertEqual(try TapControl().show(try InterfaceName("mq0")).holders.map(\.pid), Array(repeating: getpid(), count: 3))
        XCTAssertEqual(try first.interface().name, "mq0")
        XCTAssertEqual(first.headerSize, 10)
        try first.setVnetHeaderSize(12)
        XCTAssertEqual(first.headerSize, 12)
        XCTAssertEqual(try second.vnetHeaderSize(), 12, "device-wide")
        // Every queue parses with the device's size: one left at 10 would read frames two bytes off.
        XCTAssertEqual(second.headerSize, 12, "a queue of the same handoff")
        XCTAssertEqual(third.headerSize, 12, "a queue from openAnother")
        XCTAssertEqual(try first.setOffloads([.csum, .tso4]), [.csum, .tso4])
        XCTAssertEqual(try first.setSendBuffer(65536), 65536)
        XCTAssertEqual(try second.sendBuffer(), 65536)
        try third.setAttached(false)
        XCTAssertEqual(try TapControl().show(try InterfaceName("mq0")).link.disabledQueues, 1)
        try third.setAttached(true)
        // Nothing to read yet: non-blocking reads say nil.
        try first.setNonBlocking(true)
        try second.setNonBlocking(true)
        try third.setNonBlocking(true)
        var buffer = [UInt8](repeating: 0, count: 2048)
        XCTAssertNil(try second.read(into: &buffer))
        // An ARP request for the host's address goes in; the kernel's reply comes back out on one queue.
        let mac: [UInt8] = [0x02, 0, 0, 0x78, 0, 2]
        let arp = [UInt8](repeating: 0xff, count: 6) + mac + [0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1] + mac + [10, 78, 0, 2]
            + [UInt8](repeating: 0, count: 6) + [10, 78, 0, 1]
        func reply(_ queue: borrowing TapQueue) throws -> Int? {
            guard let (header, length) = try queue.receive(into: &buffer) else { return nil }
            XCTAssertNotNil(header)
            XCTAssertEqual(Array(buffer[0..<6]), mac, "addressed to the requester")
            XCTAssertEqual(Array(buffer[12..<14]), [0x08, 0x06])
            return length
        }
        XCTAssertEqual(try first.send(arp), arp.count)
        var replied: Int?
        for _ in 0..<100 where replied == nil {
            replied = try reply(first) ?? reply(second) ?? reply(third)
            if replied == nil { usleep(20_000) }
        }
        XCTAssertGreaterThanOrEqual(replied ?? 0, 42)
        // Raw and scatter/gather forms carry the header in the bytes.
        var raw = [UInt8](repeating: 0, count: 12)
        raw.withUnsafeMutableBytes { VirtioNetHeader().encode(into: $0) }
        XCTAssertEqual(try second.write(raw + arp), 12 + arp.count)
        var header = [UInt8](repeating: 0, count: 12), frame = [UInt8](repeating: 0, count: 2048)
        func gather(_ queue: borrowing TapQueue) throws -> Int? {
            try header.withUnsafeMutableBytes { h in try frame.withUnsafeMutableBytes { f in try queue.read(into: [h, f]) } }
        }
        var gathered: Int?
        for _ in 0..<100 where gathered == nil {
            gathered = try gather(first) ?? gather(second) ?? gather(third)
            if gathered == nil { usleep(20_000) }
        }
        XCTAssertGreaterThanOrEqual(gathered ?? 0, 12 + 42)
        XCTAssertEqual(Array(frame[0..<6]), mac)
        _ = consume third
        XCTAssertEqual(try TapControl().show(try InterfaceName("mq0")).link.queues, 2, "a queue closes with its value")
    }

    /// A frame longer than the buffer is reported, not passed off as whole:
    /// the kernel cuts it short, and says only how much it copied.
    func testAFrameLongerThanTheBufferIsReported() throws {
        XCTAssertEqual(tapctl("create", "tr0", "--up").status, 0)
        XCTAssertEqual(spawn(["sysctl", "-qw", "net.ipv6.conf.tr0.disable_ipv6=1"]).status, 0)
        XCTAssertEqual(spawn(["ip", "addr", "add", "10.98.0.1/24", "dev", "tr0"]).status, 0)
        XCTAssertEqual(spawn(["ip", "neigh", "add", "10.98.0.2", "lladdr", "02:00:00:98:00:02", "dev", "tr0"]).status, 0)
        var handoff = try TapControl().open(HandoffRequest(name: try InterfaceName("tr0")))
        guard let queue = try handoff.takeQueue() else { return XCTFail("one queue") }
        try queue.setNonBlocking(true)
        // UDP to the neighbour: a frame of 14 + 20 + 8 + payload bytes comes out of the tap.
        let sender = socket(AF_INET, 2 /* SOCK_DGRAM */, 0)
        defer { close(sender) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(9).bigEndian
        address.sin_addr.s_addr = inet_addr("10.98.0.2")
        func send(_ count: Int) {
            let payload = [UInt8](repeating: 7, count: count)
            let sent = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(sender, payload, payload.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            XCTAssertEqual(sent, count)
        }
        func next(into buffer: inout [UInt8]) throws -> Int? {
            for _ in 0..<200 {
                if let (_, length) = try queue.receive(into: &buffer) { return length }
                usleep(10_000)
            }
            return nil
        }
        var small = [UInt8](repeating: 0, count: 100)
        send(1000)
        XCTAssertThrowsError(try next(into: &small)) { error in
            XCTAssertEqual(error as? TapError, .frameTruncated(capacity: 100))
        }
        send(58)  // exactly 100 bytes: a fit, not a truncation
        XCTAssertEqual(try next(into: &small), 100)
    }
}
