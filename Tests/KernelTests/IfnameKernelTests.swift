import XCTest
import Glibc
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

final class IfnameKernelTests: KernelTestCase {
    func testNamesTheDeviceBehindAnInheritedDescriptor() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--multiqueue").status, 0)
        let queue = try hold("tap0", flags: [.tap, .noPI, .multiQueue, .vnetHdr])
        let outcome = tapctl("ifname", "--fd", "5", fds: [5: queue.descriptor.rawValue])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        XCTAssertEqual(outcome.stdout, "tap0\n")
        XCTAssertEqual(tapctl("ifname", "--fd=7", "--json", fds: [7: queue.descriptor.rawValue]).stdout,
                       #"{"fd":7,"name":"tap0","mode":"tap","multi_queue":true,"vnet_hdr":true,"pi":false,"detached":false}"# + "\n")
        XCTAssertEqual(try link("tap0")?.queues, 1, "the inherited queue stays attached")
        XCTAssertGreaterThan(queue.descriptor.rawValue, 2)  // last use: attached until here
    }

    func testDescriptorsThatAreNotAttachedTapQueues() throws {
        let unattached = try TapQueue()
        let file = open("/proc/self/status", O_RDONLY | O_CLOEXEC)
        defer { close(file) }
        let cases: [(CInt?, String)] = [
            (unattached.descriptor.rawValue, "tapctl: ifname fd 5: a tun/tap descriptor attached to no device\n"),
            (file, "tapctl: ifname fd 5: not a tun/tap descriptor\n"),
            (nil, "tapctl: ifname fd 5: not open\n"),
        ]
        for (source, message) in cases {
            let outcome = tapctl("ifname", "--fd", "5", fds: source.map { [5: $0] } ?? [:])
            XCTAssertEqual(outcome.status, 4, "no tun/tap queue behind it")
            XCTAssertEqual(outcome.stderr, message)
        }
        XCTAssertGreaterThan(unattached.descriptor.rawValue, 2)  // last use: open until here
        XCTAssertEqual(tapctl("ifname", "--fd", "-1").status, 2)
        XCTAssertEqual(tapctl("ifname", "--fd", "five").stderr,
                       "tapctl: ifname: fd 'five' is not a descriptor number (see 'tapctl ifname --help')\n")
    }
}
