import XCTest
@testable import tapctl

/// Facts about a command live in its spec, not in lookups of its name.
final class SpecTests: XCTestCase {
    func testTheFactsAreInTheSpecs() {
        func names(_ test: (CommandSpec) -> Bool) -> [String] { commands.filter(test).map(\.name).sorted() }
        XCTAssertEqual(names { if case .never = $0.accessList { true } else { false } }, ["ifname", "list", "queue", "show", "sndbuf"])
        XCTAssertEqual(names { if case .unlessDescriptor = $0.accessList { true } else { false } }, ["offload", "vnet-hdr-size"])
        XCTAssertEqual(names { if case .allowed = $0.batch { false } else { true } }, ["exec", "send"])
        XCTAssertEqual(names(\.takesHeldQueue), ["offload", "probe", "set", "vnet-hdr-size"])
    }

    func testNoCodeLooksACommandUpByName() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Sources/tapctl")
        let lookup = try NSRegularExpression(pattern: #"(switch [a-z.]*(?<!environment\.)command(\.name)? \{|(?<!environment\.)command(\.name)? == ")"#)
        for file in try FileManager.default.contentsOfDirectory(atPath: folder.path) where file.hasSuffix(".swift") {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            for match in lookup.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                XCTFail("\(file): \((text as NSString).substring(with: match.range))")
            }
        }
    }
}
