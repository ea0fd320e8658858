import XCTest
import Foundation
import Glibc
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

final class StressKernelTests: KernelTestCase {
    /// Owner and group are set before TUNSETPERSIST, and until then closing the
    /// descriptor (as a SIGKILL does) removes the device: whenever a create is
    /// killed, either nothing or a complete device is left.
    func testKillStormLeavesNoPersistentDeviceWithoutItsOwner() throws {
        var killed = 0
        for run in 0..<300 {
            let running = try XCTUnwrap(start([Self.binary, "create", "k\(run % 60)", "--user", "1234", "--group", "4321"]))
            usleep(UInt32.random(in: 0...4000))
            kill(running.pid, SIGKILL)
            if running.wait().status == 128 + SIGKILL { killed += 1 }
        }
        let links = try tunLinks()
        print("kill storm: 300 creates, \(killed) killed before they finished, \(links.count) devices left")
        for link in links {
            XCTAssertTrue(link.persistent, link.name)
            XCTAssertEqual(link.owner, 1234, link.name)
            XCTAssertEqual(link.group, 4321, link.name)
            XCTAssertEqual(link.queues + link.disabledQueues, 0, link.name)
        }
    }

    /// IFF_TUN_EXCL: of several processes creating the same names at once, each
    /// name is made exactly once and every other attempt says it exists.
    func testRacingCreatesMakeEachNameOnce() throws {
        let path = "/tmp/tapctl-race-\(getpid())"
        try (0..<100).map { "create r\($0)" }.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let racers = try (0..<8).map { _ in try XCTUnwrap(start([Self.binary, "--force", "--batch", path])) }
        let outcomes = racers.map { $0.wait() }
        let made = outcomes.flatMap { $0.stdout.split(separator: "\n").map(String.init) }
        XCTAssertEqual(made.count, 100)
        XCTAssertEqual(Set(made).count, 100, "no name made twice")
        let refused = outcomes.flatMap { $0.stderr.split(separator: "\n") }.filter { $0.contains(": already exists;") }
        XCTAssertEqual(refused.count, 700)
        let links = try tunLinks()
        XCTAssertEqual(links.count, 100)
        XCTAssertTrue(links.allSatisfy { $0.persistent && $0.owner == 0 && $0.queues == 0 }, "nothing attached silently")
    }

    /// Listing while devices come and go, and deleting while listing: no crash,
    /// no partial line, always a clean answer.
    func testListingWhileDevicesComeAndGo() throws {
        let path = "/tmp/tapctl-churn-\(getpid())"
        let round = (0..<200).map { "create c\($0)" } + ["delete --match 'c*'"]
        try Array(repeating: round, count: 3).joined().joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let churn = try XCTUnwrap(start([Self.binary, "--batch", path]))
        for index in 0..<40 {
            let text = tapctl("list")
            XCTAssertEqual(text.status, 0, text.stderr)
            // Every row complete; a device caught mid-create shows no owner yet.
            for line in text.stdout.replacingOccurrences(of: "ANY USER", with: "ANY_USER").split(separator: "\n") {
                XCTAssertEqual(line.split(separator: " ", omittingEmptySubsequences: true).count, 11, String(line))
            }
            let json = tapctl("list", "--json")
            XCTAssertEqual(json.status, 0, json.stderr)
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)), json.stdout)
            let show = tapctl("show", "c\(index * 5)")
            XCTAssertTrue(show.status == 0 || show.status == 4, show.stderr)
        }
        let outcome = churn.wait()
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        XCTAssertEqual(try tunLinks(), [])
    }
}
