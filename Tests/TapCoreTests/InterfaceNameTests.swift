import XCTest
@testable import TapCore
@testable import tapctl
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

final class InterfaceNameTests: XCTestCase {
    func testAcceptsNamesAndTemplates() throws {
        for name in ["tap0", "a", "vm-1_x.y", "123456789012345", "é1", "tap%d", "%d", "v%dx"] {
            XCTAssertNoThrow(try InterfaceName(name), name)
        }
        XCTAssertTrue(try InterfaceName("vm%d").isTemplate)
        XCTAssertFalse(try InterfaceName("vm0").isTemplate)
    }

    func testRejectsWhatTheKernelRejectsOrTruncates() {
        let cases: [(String, InterfaceName.Problem)] = [
            ("", .empty),
            ("1234567890123456", .tooLong(16)),
            (String(repeating: "x", count: 40), .tooLong(40)),
            ("ééééééééé", .tooLong(18)),
            (".", .dotName),
            ("..", .dotName),
            ("a/b", .forbiddenCharacter("'/'")),
            ("a:1", .forbiddenCharacter("':'")),
            ("a b", .forbiddenCharacter("white space")),
            ("a\tb", .forbiddenCharacter("white space")),
            ("a\nb", .forbiddenCharacter("white space")),
            ("a\u{1}b", .forbiddenCharacter("a control character")),
            ("à", .forbiddenCharacter("the byte 0xA0, which the kernel takes for white space")),
            ("a\u{FFFD}", .notUTF8),
            ("a%d%d", .badTemplate),
            ("tap%02d", .badTemplate),
            ("%s", .badTemplate),
            ("x%", .badTemplate),
            ("%%d", .badTemplate),
        ]
        for (name, problem) in cases {
            XCTAssertThrowsError(try InterfaceName(name), name) { error in
                XCTAssertEqual(error as? TapError, .invalidName(name, problem), name)
            }
        }
    }

    func testTemplatesRefusedWhereADeviceIsNamed() {
        XCTAssertThrowsError(try InterfaceName("tap%d", allowTemplate: false)) { error in
            XCTAssertEqual(error as? TapError, .invalidName("tap%d", .templateNotAllowed))
        }
    }

    func testProblemsReadAsSentences() {
        XCTAssertEqual(TapError.invalidName("1234567890123456", .tooLong(16)).message,
                       "the name is 16 bytes; at most 15 fit (the kernel would cut it short)")
        XCTAssertEqual(TapError.invalidName("a%d%d", .badTemplate).message,
                       "the name is not a valid template: use one %d and no other %")
    }
}
