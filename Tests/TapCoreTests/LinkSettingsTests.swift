import XCTest
import Glibc
import CTapShim
@testable import TapCore
@testable import tapctl
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

final class LinkSettingsTests: XCTestCase {
    func testMACAddresses() throws {
        XCTAssertEqual(try MACAddress(parsing: "02:00:5e:10:00:01").description, "02:00:5e:10:00:01")
        XCTAssertEqual(try MACAddress(parsing: "2-0-5E-a-B-1").bytes, [2, 0, 0x5e, 0x0a, 0x0b, 1])
        let cases: [(String, MACAddress.Problem)] = [
            ("01:00:5e:00:00:01", .multicast("01:00:5e:00:00:01")), ("ff:ff:ff:ff:ff:ff", .multicast("ff:ff:ff:ff:ff:ff")),
            ("00:00:00:00:00:00", .zero), ("02:00:00:00:00", .malformed("02:00:00:00:00")),
            ("02:00:00:00:00:00:00", .malformed("02:00:00:00:00:00:00")), ("02:00:00:00:00:0g", .malformed("02:00:00:00:00:0g")),
            ("020:0:0:0:0:0", .malformed("020:0:0:0:0:0")), ("", .malformed("")), ("02:00:00:00::01", .malformed("02:00:00:00::01")),
            ("02:00:00-00:00:01", .malformed("02:00:00-00:00:01")),
        ]
        for (text, problem) in cases {
            XCTAssertThrowsError(try MACAddress(parsing: text), text) { XCTAssertEqual($0 as? TapError, .invalidMAC(problem), text) }
        }
    }

    func testRandomAddressesAreLocalUnicast() {
        for _ in 0..<200 {
            let mac = MACAddress.random()
            XCTAssertEqual(mac.bytes[0] & 0x03, 0x02, mac.description)
            XCTAssertNoThrow(try MACAddress(parsing: mac.description))
        }
    }

    func testLinkRequestEncoding() throws {
        let request = LinkRequest(type: 16, index: 7, flags: 1, change: 1,
                                  attributes: [Netlink.Attribute(type: 4, uint32: 9000)])
        let message = request.message(flags: NLM_F_REQUEST | NLM_F_ACK)
        XCTAssertEqual(message.flags, UInt16(NLM_F_REQUEST | NLM_F_ACK))
        XCTAssertEqual(message.payload.count, 16 + 8)
        XCTAssertEqual(message.payload.loadNative(Int32.self, at: 4), 7)
        XCTAssertEqual(message.payload.loadNative(UInt32.self, at: 8), 1)
        XCTAssertEqual(message.payload.loadNative(UInt32.self, at: 12), 1)
        XCTAssertEqual(try Netlink.attributes(in: message.payload[16...]).first?.uint32, 9000)
    }

    func testDecodesGeneralLinkAttributes() throws {
        var payload = [UInt8](repeating: 0, count: 16)
        payload.replaceSubrange(4..<8, with: [3, 0, 0, 0])
        payload.replaceSubrange(8..<12, with: [1, 0, 0, 0])
        payload += Netlink.encode([
            .init(type: 3, string: "tap0"), .init(type: 4, uint32: 9000), .init(type: 50, uint32: 68),
            .init(type: 51, uint32: 65521), .init(type: 1, payload: [2, 0, 0, 0, 0, 1]), .init(type: 10, uint32: 5),
            .init(type: 13, uint32: 500), .init(type: 27, uint32: 42),
        ])
        let link = try Link.decode(payload)
        XCTAssertEqual(link.index, 3)
        XCTAssertEqual(link.flags, 1)
        XCTAssertEqual(link.mtu, 9000)
        XCTAssertEqual(link.minMTU, 68)
        XCTAssertEqual(link.maxMTU, 65521)
        XCTAssertEqual(link.address, [2, 0, 0, 0, 0, 1])
        XCTAssertEqual(link.master, 5)
        XCTAssertEqual(link.txQueueLength, 500)
        XCTAssertEqual(link.group, 42)
    }

    func testMTURangesForDevicesNotMadeYet() {
        XCTAssertEqual(LinkSettings.mtuRange(.tap), 68...65521)
        XCTAssertEqual(LinkSettings.mtuRange(.tun), 68...65535)
    }
}

final class RouteSocketTests: XCTestCase {
    func testChangesGoSixtyFourToADatagramAndEachGetsItsAnswer() throws {
        let kernel = FakeKernel()
        kernel.netlinkFailures = [3: .notPermitted, 130: .invalidArgument]
        var socket = try RouteSocket(system: kernel.system)
        let requests = (0..<150).map { LinkRequest(type: 16, index: Int32($0)) }
        let results = try socket.change(requests)
        XCTAssertEqual(kernel.datagrams.map(\.count), [64, 64, 22])
        XCTAssertEqual(results.count, 150)
        XCTAssertEqual(results[3], .notPermitted)
        XCTAssertEqual(results[130], .invalidArgument)
        XCTAssertEqual(results.compactMap { $0 }.count, 2)
        XCTAssertTrue(kernel.datagrams.joined().allSatisfy { $0.flags & UInt16(NLM_F_ACK) != 0 })
    }

    func testSettingRefusalsSayWhatWasApplied() throws {
        XCTAssertEqual(TapError.settingRefused("tap0", setting: .txQueueLength(5), .notPermitted, applied: [.mtu(1400), .mac(try MACAddress(parsing: "02:00:00:00:00:01"))]).message,
                       "txqueuelen 5: refused by the tun driver (it could not allocate a queue that long); applied before it: mtu 1400, mac 02:00:00:00:00:01")
        XCTAssertEqual(TapError.settingRefused("tap0", setting: .mtu(1400), nil, applied: []).message,
                       "mtu 1400: needs CAP_NET_ADMIN; nothing was changed")
        XCTAssertEqual(TapError.settingRefused("tap0", setting: .up(true), nil, applied: []).category, .permission)
    }
}
