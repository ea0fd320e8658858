import XCTest
@testable import tapctl

/// The man page and README must describe the command table as it is.
final class DocumentationTests: XCTestCase {
    private func read(_ relative: String) throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent(relative), encoding: .utf8)
    }

    /// roff as text, for the few requests the synopses use: .B and .I join
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
            return line.replacingOccurrences(of: "\\-", with: "-")
        }
        return words.filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// The synopsis under `.SS command` in the man page: the lines before its first paragraph.
    private func manSynopsis(_ man: String, _ command: String) -> String? {
        let lines = man.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(of: Substring(".SS " + command.replacingOccurrences(of: "-", with: "\\-"))) else { return nil }
        let body = lines[(start + 1)...].prefix { !$0.hasPrefix(".PP") && !$0.hasPrefix(".TP") && !$0.hasPrefix(".S") }
        return text(ofRoff: Array(body))
    }

    func testTheTableNamesEachCommandAsItsSpecDoes() {
        XCTAssertEqual(commandTable.map(\.name), commands.map(\.name))
    }

    /// Synopses come from the command table; README.md and tapctl(8) show them as they are.
    func testSynopsesAreTheCommandTables() throws {
        let man = try read("man/tapctl.8")
        let readme = try read("README.md")
        for command in commands {
            XCTAssertEqual(manSynopsis(man, command.name), command.synopsis, "man page, \(command.name)")
            XCTAssertTrue(readme.contains("### tapctl \(command.name)\n\n`\(command.synopsis)`"), "README: `\(command.synopsis)`")
            XCTAssertTrue(commandHelp(command).hasPrefix("Usage: \(command.synopsis)\n"), command.name)
        }
    }

    func testEveryCommandAndOptionIsDocumented() throws {
        let man = try read("man/tapctl.8").replacingOccurrences(of: "\\-", with: "-")
        let readme = try read("README.md")
        for command in commands {
            XCTAssertTrue(man.contains(".SS \(command.name)"), "man page lacks command \(command.name)")
            XCTAssertTrue(readme.contains("tapctl \(command.name)"), "README lacks command \(command.name)")
            let help = commandHelp(command)
            for option in command.options {
                XCTAssertTrue(help.contains("--" + option.name), "\(command.name) --help lacks --\(option.name)")
                XCTAssertTrue(man.contains("--" + option.name), "man page lacks --\(option.name)")
                XCTAssertTrue(readme.contains("--" + option.name), "README lacks --\(option.name)")
            }
        }
        for status in Array(0...7) + [126, 127] {
            XCTAssertTrue(man.contains(".B \(status)\n") || man.contains(".B \(status)\r"), "man page lacks exit status \(status)")
            XCTAssertTrue(readme.contains("| \(status) |"), "README lacks exit status \(status)")
        }
        XCTAssertTrue(man.contains(version), "man page names another version")
        for option in ["--json", "--netns", "--batch", "--force", "--version"] {
            XCTAssertTrue(man.contains(option), "man page lacks global \(option)")
            XCTAssertTrue(readme.contains(option), "README lacks global \(option)")
            XCTAssertTrue(mainHelp(commands).contains(option), "--help lacks global \(option)")
        }
    }

    func testJSONKeysAreDocumented() throws {
        let readme = try read("README.md")
        let man = try read("man/tapctl.8").replacingOccurrences(of: "\\-", with: "-").replacingOccurrences(of: "\\_", with: "_")
        let keys = ["name", "index", "mode", "multi_queue", "vnet_hdr", "pi", "persist", "owner", "owner_name", "group",
                    "group_name", "any_user_can_attach", "queues", "detached_queues", "processes", "pid", "command", "fds",
                    "fd", "created", "deleted", "detached", "in_use", "queue_vnet_hdr", "offloads", "ethtool", "ufo",
                    "vnet_hdr_size", "sndbuf", "virtio_net", "kernel", "unknown", "release", "tun_mode", "features",
                    "offloads_accepted", "offloads_refused", "vnet_hdr_sizes", "vnet_le", "vnet_be", "max_queues",
                    "untested", "tap_fds", "vhost_fds", "applied", "line", "status", "error", "subject", "bridge"]
        for key in keys {
            XCTAssertTrue(readme.contains("`\(key)`"), "README lacks JSON key \(key)")
            XCTAssertTrue(man.contains(key), "man page lacks JSON key \(key)")
        }
    }
}
