import XCTest
@testable import tapctl

final class BatchTests: XCTestCase {
    private func words(_ line: String) throws -> [String] { try BatchWords.split(line[...]) }

    func testSplitsLikeAShellSplitsSimpleWords() throws {
        XCTAssertEqual(try words("create tap0 --multiqueue"), ["create", "tap0", "--multiqueue"])
        XCTAssertEqual(try words("  create\ttap0  "), ["create", "tap0"])
        XCTAssertEqual(try words("create 'vm%d'"), ["create", "vm%d"])
        XCTAssertEqual(try words(#"create "a b" c"#), ["create", "a b", "c"])
        XCTAssertEqual(try words(#"x "q\"uote" 'it''s' "\$x\\" "\n""#), ["x", "q\"uote", "its", "$x\\", "\\n"])
        XCTAssertEqual(try words(##"a\ b c\#d"##), ["a b", "c#d"])
        XCTAssertEqual(try words("pre'fix'\"ed\" ''"), ["prefixed", ""])
        XCTAssertEqual(try words("list # the rest is a comment"), ["list"])
        XCTAssertEqual(try words("a#b"), ["a#b"], "# inside a word is a character")
        XCTAssertEqual(try words("create tap0\r"), ["create", "tap0"], "CRLF files")
        XCTAssertEqual(try words(""), [])
        XCTAssertEqual(try words("   # comment"), [])
    }

    func testUnterminatedQuotesAreErrors() {
        XCTAssertThrowsError(try words("create 'tap0")) { XCTAssertEqual($0 as? BatchWords.Problem, .unterminated("'")) }
        XCTAssertThrowsError(try words(#"create "tap0"#)) { XCTAssertEqual($0 as? BatchWords.Problem, .unterminated("\"")) }
        XCTAssertThrowsError(try words(#"create "tap0\"#)) { XCTAssertEqual($0 as? BatchWords.Problem, .unterminated("\"")) }
        XCTAssertThrowsError(try words("create tap0\\")) { XCTAssertEqual($0 as? BatchWords.Problem, .trailingBackslash) }
    }

    func testBatchOptionsAndWhatALineMayNotDo() throws {
        guard case .batch(let path, let options) = try Parser.parse(["--json", "--force", "--batch", "-"])
        else { return XCTFail() }
        XCTAssertEqual(path, "-")
        XCTAssertTrue(options.json && options.force)
        let errors: [([String], String)] = [
            (["--batch"], "tapctl: option '--batch' needs a value (FILE) (see 'tapctl --help')"),
            (["--batch", "f", "list"], "tapctl: unexpected argument 'list' after --batch FILE (see 'tapctl --help')"),
            (["--force", "list"], "tapctl: option '--force' goes with --batch (see 'tapctl --help')"),
        ]
        for (arguments, line) in errors {
            XCTAssertThrowsError(try Parser.parse(arguments)) { XCTAssertEqual(($0 as? Failure)?.line, line) }
        }
        for word in ["--netns", "--batch", "--force"] {
            XCTAssertThrowsError(try Parser.parse([word, "x", "list"], inBatch: true)) {
                XCTAssertEqual(($0 as? Failure)?.line,
                               "tapctl: option '\(word)' belongs on tapctl's command line, before --batch (see 'tapctl --help')")
            }
        }
        guard case .run(let invocation) = try Parser.parse(["list"], inBatch: true) else { return XCTFail() }
        XCTAssertTrue(invocation.inBatch)
    }
}
