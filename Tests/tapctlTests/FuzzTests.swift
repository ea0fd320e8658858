import XCTest
import Foundation
@testable import tapctl

/// Generated argument vectors and batch lines for the parsers: no crash, no
/// hang, and every refusal a one-line usage error that names a word of the
/// vector. `make check` runs `count`'s default of each; `make fuzz` sets
/// TAPCTL_FUZZ_COUNT to run more.
final class FuzzTests: XCTestCase {
    /// A small deterministic generator (SplitMix64), so a failure can be replayed.
    private struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
    }

    private static let count = Int(ProcessInfo.processInfo.environment["TAPCTL_FUZZ_COUNT"] ?? "") ?? 5000

    private var vocabulary: [String] {
        let options: [String] = commands.flatMap { $0.options.map { "--" + $0.name.rawValue } }
        return commands.map(\.name) + options + [
            "help", "--", "-", "-h", "-j", "-n", "--netns", "--batch", "--force", "--version", "--json=1", "--user=",
            "tap0", "vm%d", "%d%d", "", " ", "a/b", "..", "1234567890123456", "99999999999999999999", "-1", "0",
            "csum,tso4", "none", "random", "02:00:00:00:00:01", "{fds}", "{vhostfds}", "é", "\u{FFFD}",
            String(decoding: [0xff, 0xfe, 0x41], as: UTF8.self), String(repeating: "x", count: 5000), "=", "--=x",
        ]
    }

    private func randomWord(_ generator: inout Generator) -> String {
        if Int.random(in: 0..<4, using: &generator) > 0 { return vocabulary.randomElement(using: &generator) ?? "" }
        let bytes = (0..<Int.random(in: 0..<12, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A refusal must name something the user typed, or say what was missing.
    private func check(_ failure: Failure, _ words: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(failure.status, .usage, failure.line, file: file, line: line)
        XCTAssertFalse(failure.line.contains("\n"), "one line: \(failure.line)", file: file, line: line)
        // Control characters are shown as \xNN.
        let named = words.map(Failure.printable).contains { failure.line.contains("'\($0)'") || (!$0.isEmpty && failure.line.contains($0)) }
            || ["missing", "no command given", "needs a value", "is empty"].contains { failure.line.contains($0) }
        XCTAssertTrue(named, "\(failure.line) names none of \(words)", file: file, line: line)
    }

    func testArgumentVectors() {
        var generator = Generator(state: 1)
        var accepted = 0
        for _ in 0..<Self.count {
            let words = (0..<Int.random(in: 0..<7, using: &generator)).map { _ in randomWord(&generator) }
            do {
                _ = try Parser.parse(words)
                accepted += 1
            } catch {
                check(error, words)
            }
        }
        print("fuzz: \(Self.count) argument vectors, \(accepted) parsed, the rest refused with a usage error")
    }

    func testBatchLines() {
        var generator = Generator(state: 2)
        let quoting = ["'", "\"", "\\", "#", " ", "\t", "\r"]
        for _ in 0..<Self.count {
            var line = ""
            for _ in 0..<Int.random(in: 0..<8, using: &generator) {
                line += Int.random(in: 0..<3, using: &generator) == 0
                    ? quoting.randomElement(using: &generator) ?? "" : randomWord(&generator) + " "
            }
            do {
                let words = try BatchWords.split(line[...])
                _ = try? Parser.parse(words, inBatch: true)
            } catch {
                XCTAssertFalse(error.description.isEmpty)
            }
        }
    }
}
