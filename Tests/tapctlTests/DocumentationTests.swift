import XCTest
@testable import tapctl

/// tapctl(8) is the reference: it must describe the command table as it is,
/// synopses, options, exit statuses and JSON keys. README.md teaches, and is
/// held to its size and to code that compiles.
final class DocumentationTests: XCTestCase {
    private func read(_ relative: String) throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent(relative), encoding: .utf8)
    }

    /// roff as text, for the few requests the man page uses: .B and .I join
    /// their words with spaces, .BR and the like without, plain lines are
    /// text; font escapes go, \- is a hyphen, \& nothing.
    private func text(ofRoff lines: [Substring]) -> String {
        let words = lines.map { line -> String in
            var line = String(line)
            if line.hasPrefix(".") {
                let request = line.prefix { $0 != " " }
                var arguments: [String] = []
                var current = ""
                var quoted = false
                for character in line.dropFirst(request.count + 1) {
                    if character == "\"" {
                        quoted.toggle()
                    } else if character == " " && !quoted {
                        if !current.isEmpty { arguments.append(current) }
                        current = ""
                    } else {
                        current.append(character)
                    }
                }
                if !current.isEmpty { arguments.append(current) }
                line = arguments.joined(separator: request.count == 2 ? " " : "")
            }
            for escape in ["\\fB", "\\fI", "\\fP", "\\fR", "\\&"] { line = line.replacingOccurrences(of: escape, with: "") }
            return line.replacingOccurrences(of: "\\-", with: "-").replacingOccurrences(of: "\\_", with: "_")
        }
        return words.filter { !$0.isEmpty }.joined(separator: " ")
    }

    private func lines(_ text: String) -> [Substring] { text.split(separator: "\n", omittingEmptySubsequences: false) }

    /// The synopsis under `.SS command` in the man page: the lines before its first paragraph.
    private func manSynopsis(_ man: String, _ command: String) -> String? {
        let lines = lines(man)
        guard let start = lines.firstIndex(of: Substring(".SS " + command.replacingOccurrences(of: "-", with: "\\-"))) else { return nil }
        let body = lines[(start + 1)...].prefix { !$0.hasPrefix(".PP") && !$0.hasPrefix(".TP") && !$0.hasPrefix(".S") }
        return text(ofRoff: Array(body))
    }

    /// The `.TP` items of section `.SH name`: each one's tag (the line after
    /// .TP) and its text, both as plain text.
    private func items(_ man: String, section name: String) throws -> [(tag: String, body: String)] {
        let lines = lines(man)
        let start = try XCTUnwrap(lines.firstIndex(of: Substring(".SH " + name)), "no section \(name)")
        let section = lines[(start + 1)...].prefix { !$0.hasPrefix(".SH") }
        var items: [(String, String)] = []
        var index = section.startIndex
        while let item = section[index...].firstIndex(of: ".TP"), item + 1 < section.endIndex {
            let end = section[(item + 1)...].firstIndex(of: ".TP") ?? section.endIndex
            items.append((text(ofRoff: [section[item + 1]]), text(ofRoff: Array(section[(item + 1)..<end]))))
            index = end
        }
        return items
    }

    private func words(_ text: String) -> Set<String> {
        Set(text.split { !($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }.map(String.init))
    }

    func testTheTableNamesEachCommandAsItsSpecDoes() {
        XCTAssertEqual(commandTable.map(\.name), commands.map(\.name))
    }

    /// Synopses come from the command table; tapctl(8) and --help show them as they are.
    func testSynopsesAreTheCommandTables() throws {
        let man = try read("man/tapctl.8")
        for command in commands {
            XCTAssertEqual(manSynopsis(man, command.name), command.synopsis, "man page, \(command.name)")
            XCTAssertTrue(commandHelp(command).hasPrefix("Usage: \(command.synopsis)\n"), command.name)
        }
    }

    func testEveryCommandOptionAndExitStatusIsInTheManPage() throws {
        let man = try read("man/tapctl.8")
        let plain = man.replacingOccurrences(of: "\\-", with: "-")
        for command in commands {
            XCTAssertTrue(plain.contains(".SS \(command.name)\n"), "man page lacks command \(command.name)")
            let help = commandHelp(command)
            for option in command.options {
                XCTAssertTrue(help.contains("--" + option.name.rawValue), "\(command.name) --help lacks --\(option.name.rawValue)")
                XCTAssertTrue(plain.contains("--" + option.name.rawValue), "man page lacks --\(option.name.rawValue)")
            }
        }
        let statuses = try items(man, section: "EXIT STATUS").map(\.tag)
        XCTAssertEqual(statuses, ExitStatus.allCases.map { String($0.rawValue) }, "EXIT STATUS lists every status, in order")
        XCTAssertTrue(man.contains(version), "man page names another version")
        for option in ["--json", "--netns", "--batch", "--force", "--version"] {
            XCTAssertTrue(plain.contains(option), "man page lacks global \(option)")
            XCTAssertTrue(mainHelp(commands).contains(option), "--help lacks global \(option)")
        }
    }

    /// Each command's JSON keys (the table's list, which the kernel tests hold
    /// real output to) are named in the JSON OUTPUT items whose tag names it.
    func testJSONKeysAreInTheManPage() throws {
        let man = try read("man/tapctl.8")
        let items = try items(man, section: "JSON OUTPUT")
        for command in commands {
            let covering = items.filter { words($0.tag).contains(command.name) }
            XCTAssertFalse(covering.isEmpty, "JSON OUTPUT has no item for \(command.name)")
            let documented = covering.reduce(into: Set<String>()) { $0.formUnion(words($1.body)) }
            for key in command.jsonKeys {
                XCTAssertTrue(documented.contains(key), "JSON OUTPUT, \(command.name): no key \(key)")
            }
        }
        let failures = try XCTUnwrap(lines(man).firstIndex(of: ".SH JSON OUTPUT"))
        let opening = text(ofRoff: Array(lines(man)[(failures + 1)...].prefix { $0 != ".TP" }))
        for key in failureJSONKeys { XCTAssertTrue(words(opening).contains(key), "JSON OUTPUT: failure key \(key)") }
    }

    func testTheReadmeTeachesInAtMost300Lines() throws {
        let readme = try read("README.md")
        XCTAssertLessThanOrEqual(lines(readme).count, 300)
        for target in ["man/tapctl.8", "docs/security.md", "docs/library.md", "docs/benchmark.md", "docs/hypervisors.md"] {
            XCTAssertTrue(readme.contains("](\(target))"), "README links \(target)")
            XCTAssertNoThrow(try read(target))
        }
    }

    /// The README's Swift is an excerpt of Examples/TapResponder, which make
    /// check builds and pings: its lines, in order.
    func testTheReadmesLibraryExampleIsCompiledCode() throws {
        let readme = try read("README.md")
        let start = try XCTUnwrap(readme.range(of: "```swift\n"))
        let end = try XCTUnwrap(readme.range(of: "```", range: start.upperBound..<readme.endIndex))
        let excerpt = lines(String(readme[start.upperBound..<end.lowerBound])).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        let source = lines(try read("Examples/TapResponder/main.swift")).map { $0.trimmingCharacters(in: .whitespaces) }
        var position = source.startIndex
        for line in excerpt {
            guard let found = source[position...].firstIndex(of: line) else {
                return XCTFail("not in Examples/TapResponder/main.swift, in this order: \(line)")
            }
            position = found + 1
        }
    }

    /// Every configuration key the CNI plugin reads, and every error code it
    /// can answer with, is in tapctl(8), CNI PLUGIN.
    func testTheCNIConfigurationIsInTheManPage() throws {
        let man = try read("man/tapctl.8")
        let start = try XCTUnwrap(man.range(of: ".SH CNI PLUGIN")), end = try XCTUnwrap(man.range(of: ".SH NAMES"))
        let section = String(man[start.upperBound..<end.lowerBound]).replacingOccurrences(of: "\\-", with: "-")
        let source = try read("Sources/tapctl/CNI.swift")
        let reader = try NSRegularExpression(pattern: #"(string|bool|integer|account)\("([A-Za-z]+)""#)
        let keys = reader.matches(in: source, range: NSRange(source.startIndex..., in: source)).map {
            (source as NSString).substring(with: $0.range(at: 2))
        }
        XCTAssertGreaterThan(keys.count, 12)
        for key in Set(keys) + ["ipam", "runtimeConfig", "cni.dev/valid-attachments", "CNI_ARGS"] {
            XCTAssertTrue(section.contains(key), "tapctl(8) CNI PLUGIN lacks \(key)")
        }
        let codes = try NSRegularExpression(pattern: #"= (\d+)"#)
        let declared = String(source[try XCTUnwrap(source.range(of: "static let incompatibleVersion")).lowerBound...].prefix(300))
        for match in codes.matches(in: declared, range: NSRange(declared.startIndex..., in: declared)) {
            let code = (declared as NSString).substring(with: match.range(at: 1))
            XCTAssertTrue(section.contains(" " + code + " ") || section.contains(".B " + code + "\n"), "tapctl(8) lacks CNI code \(code)")
        }
    }
}
