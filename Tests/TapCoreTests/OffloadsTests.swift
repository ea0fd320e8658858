import XCTest
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

final class OffloadsTests: XCTestCase {
    func testBitsMatchTheKernelHeader() {
        XCTAssertEqual(Offloads.names.map(\.0.rawValue), [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x100])
    }

    func testParsesListsAndNone() throws {
        XCTAssertEqual(try Offloads(parsing: "none"), [])
        XCTAssertEqual(try Offloads(parsing: "csum"), .csum)
        XCTAssertEqual(try Offloads(parsing: "tso6,csum,tso4"), [.csum, .tso4, .tso6])
        XCTAssertEqual(try Offloads(parsing: "csum,tso4,ecn"), [.csum, .tso4, .ecn])
        XCTAssertEqual(try Offloads(parsing: "csum,ufo"), [.csum, .ufo])
        XCTAssertEqual(try Offloads(parsing: "csum,uso4,uso6"), [.csum, .uso4, .uso6])
        XCTAssertEqual(try Offloads(parsing: "csum,uso4,uso6,udp-tunnel,udp-tunnel-csum"),
                       [.csum, .uso4, .uso6, .udpTunnel, .udpTunnelCsum])
        XCTAssertEqual(try Offloads(parsing: "csum,tso4,tso6,ecn,ufo,uso4,uso6,udp-tunnel,udp-tunnel-csum").rawValue, 0x1ff)
    }

    func testEveryRuleIsNamed() {
        let cases: [(String, Offloads.Problem)] = [
            ("", .empty),
            ("csum,", .unknown("")),
            ("csum,gso", .unknown("gso")),
            ("CSUM", .unknown("CSUM")),
            ("none,csum", .noneWithOthers),
            ("csum,none", .noneWithOthers),
            ("tso4", .rule("tso4 needs csum")),
            ("tso6", .rule("tso6 needs csum")),
            ("ecn", .rule("ecn needs csum")),
            ("ufo", .rule("ufo needs csum")),
            ("uso4,uso6", .rule("uso4 needs csum")),
            ("udp-tunnel", .rule("udp-tunnel needs csum")),
            ("csum,ecn", .rule("ecn needs tso4 or tso6")),
            ("csum,uso4", .rule("uso4 and uso6 go together")),
            ("csum,uso6", .rule("uso4 and uso6 go together")),
            ("csum,udp-tunnel", .rule("udp-tunnel needs tso4, tso6 or uso4,uso6")),
            ("csum,tso4,udp-tunnel-csum", .rule("udp-tunnel-csum needs udp-tunnel")),
        ]
        for (list, problem) in cases {
            XCTAssertThrowsError(try Offloads(parsing: list), list) { XCTAssertEqual($0 as? TapError, .offloadProblem(problem), list) }
        }
        XCTAssertEqual(Offloads.Problem.unknown("gso").description,
                       "unknown offload 'gso' (known: csum, tso4, tso6, ecn, ufo, uso4, uso6, udp-tunnel, udp-tunnel-csum, none)")
    }

    func testPrerequisitesMakeEveryProbeGroupValid() throws {
        for group in Offloads.probeGroups {
            XCTAssertNoThrow(try group.withPrerequisites.validate(), group.description)
            XCTAssertTrue(group.withPrerequisites.isSuperset(of: group))
        }
        XCTAssertEqual(Offloads.ecn.withPrerequisites, [.csum, .tso4, .ecn])
        XCTAssertEqual(Offloads.udpTunnelCsum.withPrerequisites, [.csum, .tso4, .udpTunnel, .udpTunnelCsum])
        XCTAssertEqual(Offloads().withPrerequisites, [])
    }

    func testFeaturesMapBackToOffloads() {
        XCTAssertEqual(Offloads(features: ["tx-checksum-ip-generic", "tx-tcp-segmentation", "tx-udp-segmentation", "rx-gro"]),
                       [.csum, .tso4, .uso4, .uso6])
        XCTAssertEqual(Offloads(features: []).description, "none")
    }
}
