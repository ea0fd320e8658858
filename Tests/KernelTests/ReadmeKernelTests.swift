import XCTest
import Foundation
import Glibc

/// The README's sample sessions are real runs: each ```console block is
/// replayed here, its `$ ` lines run by sh with the built tapctl first on
/// PATH, in the setting the README gives them (root, a bridge br0), and what
/// they print, standard output and error together, must be what the README
/// shows.
final class ReadmeKernelTests: KernelTestCase {
    private static var readme: String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return (try? String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)) ?? ""
    }

    /// Each console block as (command, the lines it prints).
    static func sessions(_ text: String) -> [[(command: String, output: String)]] {
        var sessions: [[(String, String)]] = []
        var current: [(String, String)]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "```console" {
                current = []
            } else if line.hasPrefix("```"), let session = current {
                sessions.append(session)
                current = nil
            } else if current != nil {
                if line.hasPrefix("$ ") {
                    current?.append((String(line.dropFirst(2)), ""))
                } else if let last = current?.indices.last {
                    current?[last].1 += line + "\n"
                }
            }
        }
        return sessions
    }

    func testTheSampleSessionsAreWhatTapctlPrints() throws {
        let sessions = Self.sessions(Self.readme)
        XCTAssertFalse(sessions.isEmpty, "the README shows a session")
        let directory = URL(fileURLWithPath: Self.binary).deletingLastPathComponent().path
        let path = directory + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin")
        for session in sessions {
            XCTAssertEqual(spawn(["ip", "link", "add", "br0", "type", "bridge"]).status, 0)
            defer { _ = spawn(["ip", "link", "del", "br0"]) }
            for (command, output) in session {
                let outcome = spawn(["env", "PATH=\(path)", "sh", "-c", "{ " + command + "\n} 2>&1"])
                XCTAssertEqual(outcome.stdout, output, "README: $ \(command)")
            }
        }
    }

    func testTheSessionParserReadsCommandsAndOutput() {
        let sessions = Self.sessions("text\n```console\n$ a\none\ntwo\n$ b\n```\n```sh\n$ not\n```\n")
        XCTAssertEqual(sessions.count, 1)
        XCTAssertEqual(sessions.first?.map(\.command), ["a", "b"])
        XCTAssertEqual(sessions.first?.map(\.output), ["one\ntwo\n", ""])
    }
}
