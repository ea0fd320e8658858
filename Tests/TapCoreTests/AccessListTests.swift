import XCTest
@testable import TapCore
@testable import tapctl
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

final class AccessListTests: XCTestCase {
    func testRulesAndDenyWins() throws {
        let acl = try AccessList(parsing: """
            # VM taps
            allow user:nobody device vm-nobody-*
            allow group:0     device shared*   # root's group
            allow all         bridge br0
            deny  user:65534  device vm-nobody-9

            """)
        XCTAssertEqual(acl.rules.count, 4)
        XCTAssertTrue(acl.allows(.device, "vm-nobody-1", user: 65534, groups: [65534]))
        XCTAssertTrue(acl.allows(.device, "vm-nobody-%d", user: 65534, groups: []), "a template matches the pattern")
        XCTAssertFalse(acl.allows(.device, "vm-nobody-9", user: 65534, groups: [65534]), "deny wins")
        XCTAssertFalse(acl.allows(.device, "vm-other-1", user: 65534, groups: [65534]), "nothing matching is no")
        XCTAssertTrue(acl.allows(.device, "shared0", user: 1000, groups: [0]))
        XCTAssertFalse(acl.allows(.device, "shared0", user: 1000, groups: [100]))
        XCTAssertTrue(acl.allows(.bridge, "br0", user: 4242, groups: []))
        XCTAssertFalse(acl.allows(.bridge, "br1", user: 4242, groups: []))
        XCTAssertFalse(acl.allows(.device, "br0", user: 4242, groups: []), "a bridge rule is not a device rule")
    }

    func testMalformedLinesAreNamed() {
        let cases: [(String, Int, String)] = [
            ("allow user:nobody device", 1, "a rule has four words: allow|deny WHO device|bridge PATTERN"),
            ("\npermit all device *", 2, "'permit' is not allow, deny or limit"),
            ("deny user:nobody device tap0\r\nallow all device *", 1,
             "a carriage return (CRLF line ending); save the file with Unix line endings"),
            ("allow all device tap\r0", 1, "a carriage return (CRLF line ending); save the file with Unix line endings"),
            ("limit queues 0", 1, "'0' is not a valid number of queues"),
            ("limit queues 300", 1, "'300' is not a valid number of queues"),
            ("limit txqueuelen -1", 1, "'-1' is not a valid number of txqueuelen"),
            ("limit memory 5", 1, "'memory' is not queues, txqueuelen or devices"),
            ("limit devices 4\nlimit devices 5", 2, "limit devices is given twice"),
            ("limit devices", 1, "a limit has three words: limit queues|txqueuelen|devices N"),
            ("allow everyone device *", 1, "'everyone' is not user:NAME, group:NAME or all"),
            ("allow user:no-such-user-tapctl device *", 1, "no user 'no-such-user-tapctl'"),
            ("allow group:no-such-group-tapctl device *", 1, "no group 'no-such-group-tapctl'"),
            ("allow all link *", 1, "'link' is not device or bridge"),
        ]
        for (text, line, why) in cases {
            XCTAssertThrowsError(try AccessList(parsing: text), text) {
                guard case .accessListMalformed(let at, let syntax)? = $0 as? TapError else { return XCTFail(text) }
                XCTAssertEqual(at, line, text)
                XCTAssertEqual(syntax.text, why, text)
            }
        }
        XCTAssertEqual(TapError.accessListMalformed(line: 3, .ruleWords).message,
                       "/etc/tapctl/acl line 3: a rule has four words: allow|deny WHO device|bridge PATTERN; "
                       + "privileged-helper mode allows nothing until it is fixed")
        XCTAssertEqual(TapError.accessListMalformed(line: 3, .ruleWords).category, .permission)
    }

    func testLimitsHaveSafeDefaultsAndCanBeSet() throws {
        let defaults = try AccessList(parsing: "allow all device tap*")
        XCTAssertEqual(defaults.limits, AccessList.Limits())
        XCTAssertEqual(defaults.limits.queues, 16)
        XCTAssertEqual(defaults.limits.txQueueLength, 10000)
        XCTAssertEqual(defaults.limits.devices, 16)
        let set = try AccessList(parsing: "limit queues 64\nlimit txqueuelen 500  # per queue\nlimit devices 2\n")
        XCTAssertEqual(set.limits.queues, 64)
        XCTAssertEqual(set.limits.txQueueLength, 500)
        XCTAssertEqual(set.limits.devices, 2)
    }

    /// Lines are split on bytes: a pattern may hold any byte but '\n' and '\r'.
    func testLinesAreBytes() throws {
        let acl = try AccessList(parsing: Array("deny all device tapé*\nallow all device tap*".utf8))
        XCTAssertFalse(acl.allows(.device, "tapé0", user: 1, groups: []))
        XCTAssertTrue(acl.allows(.device, "tap0", user: 1, groups: []))
    }

    func testTestsAreNotInHelperMode() {
        XCTAssertFalse(PrivilegedHelper.isActive())
    }
}
