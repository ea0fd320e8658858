import XCTest
import Foundation
import Glibc
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

/// A device is known by its descriptor: what a held queue refers to comes
/// from the queue, never from a name looked up in the caller's namespace,
/// where the same name may be another device.
final class NamespaceKernelTests: KernelTestCase {
    /// tapctl's view of `name` in the namespace of `holder`.
    private func elsewhere(_ holder: Running, _ arguments: String...) throws -> [String: Any] {
        let outcome = tapctl(["--netns", "/proc/\(holder.pid)/ns/net"] + arguments + ["--json"])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any])
    }

    private func tapctl(_ arguments: [String]) -> Outcome { spawn([Self.binary] + arguments) }

    /// Root holding a queue of sw1, whose device is then moved to namespace B,
    /// with another sw1 here: each operation on the queue acts on B's sw1, in
    /// B, and leaves this sw1 alone; the thread comes back to its namespace.
    func testTheLibraryActsOnTheQueuesDeviceAfterItMoved() throws {
        let holder = try startNamespaceHolder()
        defer {
            kill(holder.pid, SIGKILL)
            _ = holder.wait()
        }
        XCTAssertEqual(tapctl(["create", "sw1", "--multiqueue", "--vnet-hdr"]).status, 0)
        var request = HandoffRequest(name: try InterfaceName("sw1"))
        request.queues = 1
        var handoff = try TapControl().open(request)
        guard let queue = try handoff.takeQueue() else { return XCTFail("one queue") }
        XCTAssertEqual(spawn(["ip", "link", "set", "sw1", "netns", String(holder.pid)]).status, 0)
        XCTAssertEqual(tapctl(["create", "sw1", "--multiqueue"]).status, 0, "another sw1, here")
        let home = ProcFS(system: .live).link("/proc/thread-self/ns/net")

        XCTAssertEqual(try TapControl().device(behind: queue.descriptor).namespace, .other)
        XCTAssertEqual(try queue.setOffloads([.csum, .tso4]), [.csum, .tso4])
        let moved = try elsewhere(holder, "probe", "sw1")
        XCTAssertEqual(moved["offloads"] as? [String], ["csum", "tso4"], "B's sw1 took them")
        XCTAssertEqual(try TapControl().offloads(of: "sw1"), [], "this sw1 kept its own")

        var settings = LinkSettings()
        settings.mtu = 1400
        let result = try TapControl().set(settings, on: .descriptor(queue.fileDescriptor.rawValue))
        XCTAssertEqual(result.applied, [.mtu(1400)])
        XCTAssertEqual(try anyLink("sw1")?.mtu, 1500, "this sw1 is unchanged")
        XCTAssertEqual(spawn(["nsenter", "--net=/proc/\(holder.pid)/ns/net", "ip", "link", "show", "sw1"]).stdout
            .contains("mtu 1400"), true, "B's sw1 changed")

        let another = try queue.openAnother()
        XCTAssertEqual(try elsewhere(holder, "show", "sw1")["queues"] as? Int, 2, "the new queue is on B's sw1")
        XCTAssertEqual(try link("sw1")?.queues, 0, "and not on this one")
        try queue.setVnetHeaderSize(12)
        XCTAssertEqual(another.headerSize, 12)
        let probe = try TapControl().probe(.descriptor(another.fileDescriptor.rawValue), opened: {})
        XCTAssertEqual(probe.device.link.queues, 2)
        XCTAssertEqual(ProcFS(system: .live).link("/proc/thread-self/ns/net"), home, "the thread came back")
    }

    /// Unprivileged, the namespace of a device cannot be read (TUNGETDEVNETNS
    /// needs CAP_NET_ADMIN over it): what acts through the descriptor works,
    /// what needs the name looked up is refused with its own error.
    func testWithoutCapabilitiesANameLookupIsRefusedNotGuessed() throws {
        XCTAssertEqual(tapctl(["create", "own0", "--multiqueue", "--user", "nobody"]).status, 0)
        let queue = try hold("own0", flags: [.tap, .noPI, .multiQueue])
        let fds: [CInt: CInt] = [3: queue.descriptor.rawValue]
        for (arguments, status) in [(["offload", "--fd", "3", "csum"], 0), (["vnet-hdr-size", "--fd", "3", "12"], 0),
                                    (["sndbuf", "--fd", "3", "65536"], 0), (["set", "--fd", "3", "--mtu", "1400"], 3),
                                    (["probe", "--fd", "3"], 3)] {
            let outcome = spawn(Self.nobody + [Self.binary] + arguments, fds: fds)
            XCTAssertEqual(outcome.status, Int32(status), "\(arguments): \(outcome.stderr)")
            if status != 0 {
                XCTAssertTrue(outcome.stderr.contains("cannot tell which network namespace own0 is in"), outcome.stderr)
            }
        }
    }

    /// Interface names are bytes: "vé" composed and decomposed are two devices,
    /// which Swift's String would call equal.
    func testNamesAreComparedAsBytes() throws {
        let composed = "v\u{E9}", decomposed = "ve\u{301}"
        XCTAssertEqual(composed, decomposed, "one String to Swift")
        XCTAssertEqual(tapctl(["create", composed]).status, 0)
        XCTAssertEqual(tapctl(["create", decomposed]).status, 0)
        XCTAssertEqual(tapctl(["delete", composed]).status, 0)
        XCTAssertEqual(try tunLinks().map { Array($0.name.utf8) }, [Array(decomposed.utf8)], "the decomposed one is left")
        XCTAssertNotEqual(try InterfaceName(composed), try InterfaceName(decomposed))
        XCTAssertEqual(tapctl(["show", composed]).status, 4)
        XCTAssertEqual(tapctl(["delete", decomposed]).status, 0)
    }
}
