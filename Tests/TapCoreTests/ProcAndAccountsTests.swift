import XCTest
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

final class ProcAndAccountsTests: XCTestCase {
    func testFdinfoNamesTheDevice() {
        let attached = "pos:\t0\nflags:\t02100002\nmnt_id:\t60\nino:\t105\niff:\ttun3\n"
        XCTAssertEqual(Holders.interfaceName(fromFdinfo: attached), "tun3")
        XCTAssertNil(Holders.interfaceName(fromFdinfo: "pos:\t0\niff:\t\n"), "attached to nothing")
        XCTAssertNil(Holders.interfaceName(fromFdinfo: "pos:\t0\nflags:\t02\n"), "not a tun descriptor")
    }

    func testNumericIDsAndNames() throws {
        XCTAssertEqual(try Accounts.userID("0"), 0)
        XCTAssertEqual(try Accounts.userID("root"), 0)
        XCTAssertEqual(try Accounts.groupID("root"), 0)
        XCTAssertEqual(try Accounts.userID("123456"), 123456, "ids need no passwd entry, as for the kernel")
        XCTAssertEqual(Accounts.userName(0), "root")
        XCTAssertEqual(Accounts.groupName(0), "root")
        for bad in ["-1", "4294967295", "99999999999", "+5", "", "no-such-user-tapctl"] {
            XCTAssertThrowsError(try Accounts.userID(bad), bad) { error in
                XCTAssertEqual(error as? TapError, .unknownUser(bad))
            }
        }
        XCTAssertThrowsError(try Accounts.groupID("no-such-group-tapctl")) { error in
            XCTAssertEqual(error as? TapError, .unknownGroup("no-such-group-tapctl"))
        }
    }
}
