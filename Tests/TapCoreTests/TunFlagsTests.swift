import XCTest
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

final class TunFlagsTests: XCTestCase {
    func testValuesMatchTheKernelHeader() {
        XCTAssertEqual(TunFlags.tun.rawValue, 0x0001)
        XCTAssertEqual(TunFlags.tap.rawValue, 0x0002)
        XCTAssertEqual(TunFlags.noCarrier.rawValue, 0x0040)
        XCTAssertEqual(TunFlags.multiQueue.rawValue, 0x0100)
        XCTAssertEqual(TunFlags.persist.rawValue, 0x0800)
        XCTAssertEqual(TunFlags.noPI.rawValue, 0x1000)
        XCTAssertEqual(TunFlags.vnetHdr.rawValue, 0x4000)
        XCTAssertEqual(TunFlags.tunExcl.rawValue, 0x8000)
    }

    func testDecodesNamesInBitOrderAndUnknownBitsAsHex() {
        // What TUNGETFEATURES returns on 6.18.
        XCTAssertEqual(TunFlags(rawValue: 0x7173).names,
                       ["tun", "tap", "napi", "napi_frags", "no_carrier", "multi_queue", "no_pi", "one_queue", "vnet_hdr"])
        XCTAssertEqual(TunFlags(rawValue: 0x1902).description, "tap,multi_queue,persist,no_pi")
        XCTAssertEqual(TunFlags(rawValue: 0x0402).names, ["tap", "detach_queue"])
        XCTAssertEqual(TunFlags(rawValue: 0x0082).names, ["tap", "0x80"])
    }

    func testMode() {
        XCTAssertEqual(TunFlags(rawValue: 0x1001).mode, .tun)
        XCTAssertEqual(TunFlags(rawValue: 0x1002).mode, .tap)
        XCTAssertNil(TunFlags(rawValue: 0x1000).mode)
        XCTAssertNil(TunFlags(rawValue: 0x0003).mode)
    }

    func testCreateFlagsAreExclusiveAndDropPacketInfo() throws {
        var request = CreateRequest(name: try InterfaceName("tap0"))
        XCTAssertEqual(request.flags, [.tap, .tunExcl, .noPI])
        request.mode = .tun
        request.multiQueue = true
        request.vnetHeader = true
        request.packetInfo = true
        XCTAssertEqual(request.flags, [.tun, .tunExcl, .multiQueue, .vnetHdr])
    }

    func testAttachFlagsKeepTheDeviceAsItIs() {
        let link = TunLink(name: "t", index: 1, mode: .tun, packetInfo: true, vnetHeader: true, persistent: true,
                           multiQueue: true, owner: nil, group: nil, queues: 0, disabledQueues: 0)
        XCTAssertEqual(link.attachFlags, [.tun, .vnetHdr, .multiQueue])
        XCTAssertTrue(link.anyUserCanAttach)
    }
}
