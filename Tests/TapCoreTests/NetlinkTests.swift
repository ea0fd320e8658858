import XCTest
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

final class NetlinkTests: XCTestCase {
    func testMessageRoundTripWithPadding() throws {
        let message = Netlink.Message(type: 16, flags: 0x0301, sequence: 7, port: 99, payload: [1, 2, 3, 4, 5])
        let bytes = message.encoded
        XCTAssertEqual(bytes.count, 24)
        XCTAssertEqual(bytes.loadNative(UInt32.self, at: 0), 21)
        XCTAssertEqual(try Netlink.messages(in: bytes), [message])
        XCTAssertEqual(try Netlink.messages(in: bytes + bytes), [message, message])
    }

    func testAttributesRoundTripIncludingNested() throws {
        let inner = [Netlink.Attribute(type: 1, string: "tun"), Netlink.Attribute(type: 8, uint32: 3)]
        let attributes = [Netlink.Attribute(type: 3, string: "tap0"), Netlink.Attribute(nested: 18, inner)]
        let decoded = try Netlink.attributes(in: Netlink.encode(attributes)[...])
        XCTAssertEqual(decoded.count, 2)
        XCTAssertEqual(decoded[0].string, "tap0")
        XCTAssertEqual(decoded[1].type, 18, "the nested bit is masked off")
        let children = try Netlink.attributes(in: decoded[1].payload[...])
        XCTAssertEqual(children.map(\.type), [1, 8])
        XCTAssertEqual(children[0].string, "tun")
        XCTAssertEqual(children[1].uint32, 3)
        XCTAssertNil(children[1].uint8, "a u32 is not a u8")
    }

    func testTruncatedAndMalformedInputIsRejected() {
        let good = Netlink.Message(type: 16, flags: 0, sequence: 1, payload: [0, 0, 0, 0]).encoded
        for cut in 1..<good.count {
            XCTAssertThrowsError(try Netlink.messages(in: Array(good[..<cut])), "cut at \(cut)")
        }
        var short = good
        short[0] = 8  // a length below the header itself
        XCTAssertEqual(catchParse { try Netlink.messages(in: short) }, .badLength(at: 0))
        var long = good
        long[0] = 200
        XCTAssertEqual(catchParse { try Netlink.messages(in: long) }, .truncated(at: 0))
        XCTAssertEqual(catchParse { try Netlink.attributes(in: [5, 0, 1][...]) }, .truncated(at: 0))
        XCTAssertEqual(catchParse { try Netlink.attributes(in: [2, 0, 1, 0][...]) }, .badLength(at: 0))
        XCTAssertEqual(catchParse { try Netlink.attributes(in: [9, 0, 1, 0, 1, 2, 3, 4][...]) }, .truncated(at: 0))
    }

    func testRandomBytesNeverCrash() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0..<64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if let messages = try? Netlink.messages(in: bytes) {
                for message in messages {
                    _ = try? Link.decode(message.payload)
                    _ = try? Netlink.errorCode(of: message)
                }
            }
            _ = try? Netlink.attributes(in: bytes[...])
        }
    }

    func testErrorMessageCarriesNegativeErrno() throws {
        var payload: [UInt8] = []
        payload.appendNative(Int32(-19))
        payload += [UInt8](repeating: 0, count: 16)
        let message = Netlink.Message(type: 2, flags: 0, sequence: 1, payload: payload)
        XCTAssertEqual(try Netlink.errorCode(of: message), -19)
        XCTAssertThrowsError(try Netlink.errorCode(of: Netlink.Message(type: 2, flags: 0, sequence: 1, payload: [1])))
    }

    func testDecodesATunLink() throws {
        var payload = [UInt8](repeating: 0, count: 16)
        payload.replaceSubrange(4..<8, with: [7, 0, 0, 0])
        let data: [Netlink.Attribute] = [
            .init(type: 3, payload: [2]),      // IFLA_TUN_TYPE: IFF_TAP
            .init(type: 4, payload: [0]),      // PI
            .init(type: 5, payload: [1]),      // VNET_HDR
            .init(type: 6, payload: [1]),      // PERSIST
            .init(type: 7, payload: [1]),      // MULTI_QUEUE
            .init(type: 1, uint32: 1000),      // OWNER
            .init(type: 8, uint32: 2),         // NUM_QUEUES
            .init(type: 9, uint32: 1),         // NUM_DISABLED_QUEUES
        ]
        payload += Netlink.encode([
            .init(type: 3, string: "vm0"),
            .init(nested: 18, [.init(type: 1, string: "tun"), .init(nested: 2, data)]),
        ])
        let link = try Link.decode(payload)
        XCTAssertEqual(link.kind, "tun")
        XCTAssertEqual(link.tun, TunLink(name: "vm0", index: 7, mode: .tap, packetInfo: false, vnetHeader: true,
                                         persistent: true, multiQueue: true, owner: 1000, group: nil,
                                         queues: 2, disabledQueues: 1))
    }

    func testOtherKindsHaveNoTunDetails() throws {
        let payload = [UInt8](repeating: 0, count: 16) + Netlink.encode([
            .init(type: 3, string: "br0"), .init(nested: 18, [.init(type: 1, string: "bridge")]),
        ])
        let link = try Link.decode(payload)
        XCTAssertEqual(link, Link(name: "br0", kind: "bridge", tun: nil))
        XCTAssertEqual(try Link.decode([UInt8](repeating: 0, count: 16) + Netlink.encode([.init(type: 3, string: "lo")])),
                       Link(name: "lo", kind: nil, tun: nil))
    }

    private func catchParse(_ body: () throws -> Any) -> Netlink.ParseError? {
        do {
            _ = try body()
            return nil
        } catch {
            return error as? Netlink.ParseError
        }
    }
}
