import XCTest
@testable import TapCore

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
            ("\npermit all device *", 2, "'permit' is not allow or deny"),
            ("allow everyone device *", 1, "'everyone' is not user:NAME, group:NAME or all"),
            ("allow user:no-such-user-tapctl device *", 1, "no user 'no-such-user-tapctl'"),
            ("allow group:no-such-group-tapctl device *", 1, "no group 'no-such-group-tapctl'"),
            ("allow all link *", 1, "'link' is not device or bridge"),
        ]
        for (text, line, why) in cases {
            XCTAssertThrowsError(try AccessList(parsing: text), text) {
                XCTAssertEqual($0 as? TapError, .accessListMalformed(line: line, why))
            }
        }
        XCTAssertEqual(TapError.accessListMalformed(line: 3, "x").message,
                       "/etc/tapctl/acl line 3: x; privileged-helper mode allows nothing until it is fixed")
        XCTAssertEqual(TapError.accessListMalformed(line: 3, "x").category, .permission)
    }

    func testTestsAreNotInHelperMode() {
        XCTAssertFalse(PrivilegedHelper.isActive)
    }
}
