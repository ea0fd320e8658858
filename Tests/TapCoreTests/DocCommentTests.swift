import XCTest
import Foundation

/// Every public symbol of TapCore says, in a doc comment, what it is (and
/// for an operation, what the kernel does and which errors come back): a VMM
/// author reads the library from its declarations.
final class DocCommentTests: XCTestCase {
    func testEveryPublicSymbolHasADocComment() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/TapCore")
        let files = try XCTUnwrap(FileManager.default.enumerator(atPath: root.path)).compactMap { $0 as? String }
            .filter { $0.hasSuffix(".swift") }.sorted()
        var missing: [String] = []
        for file in files {
            let lines = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8).components(separatedBy: "\n")
            for (number, line) in lines.enumerated() {
                let text = line.trimmingCharacters(in: .whitespaces)
                guard text.hasPrefix("public ") || text.hasPrefix("public(") else { continue }
                // The requirements of a protocol conformance are the protocol's to document.
                if text.hasPrefix("public init(rawValue") || text.hasPrefix("public let rawValue") || text.hasPrefix("public var description")
                    || text.hasPrefix("public static func ==") { continue }
                var above = number - 1
                while above >= 0, lines[above].trimmingCharacters(in: .whitespaces).hasPrefix("@") { above -= 1 }
                if above < 0 || !lines[above].trimmingCharacters(in: .whitespaces).hasPrefix("///") {
                    missing.append("\(file):\(number + 1): \(text.prefix(80))")
                }
            }
        }
        XCTAssertEqual(missing, [], "\(missing.count) public symbols without a doc comment")
    }
}
