import XCTest
import Foundation
import Glibc
import CTapShim
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

final class SendKernelTests: KernelTestCase {
    private var path = ""
    private var listener: CInt = -1

    override func setUpWithError() throws {
        try super.setUpWithError()
        path = "/tmp/tapctl-send-\(getpid()).sock"
        unlink(path)
        listener = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(bound, 0)
        XCTAssertEqual(listen(listener, 4), 0)
    }

    override func tearDownWithError() throws {
        close(listener)
        unlink(path)
        try super.tearDownWithError()
    }

    /// Accepts one connection and reads the message: its text and the descriptors.
    private func receive() throws -> (connection: CInt, text: String, fds: [CInt]) {
        let connection = accept(listener, nil, nil)
        XCTAssertGreaterThanOrEqual(connection, 0)
        let (text, fds) = receiveDescriptors(on: connection)
        return (connection, text, fds)
    }

    /// The receiving half, in Swift: the device from its queues, the queues
    /// owned together, sharing the device's header size.
    func testAHandoffIsReceivedInSwift() throws {
        XCTAssertEqual(tapctl("create", "hq0", "--multiqueue", "--vnet-hdr").status, 0)
        let running = try XCTUnwrap(start([Self.binary, "send", "hq0", "--socket", path, "--queues", "2"]))
        let connection = accept(listener, nil, nil)
        XCTAssertGreaterThanOrEqual(connection, 0)
        let handoff = try ReceivedHandoff.receive(on: FileDescriptor(rawValue: connection))
        close(connection)
        XCTAssertEqual(running.wait().status, 0)
        XCTAssertEqual(handoff.name, "hq0")
        XCTAssertEqual(handoff.queues.count, 2)
        XCTAssertTrue(handoff.vhostDescriptors.isEmpty)
        try handoff.queues.withQueue(at: 0) { (queue) throws(TapError) in try queue.setVnetHeaderSize(12) }
        XCTAssertEqual(try handoff.queues.withQueue(at: 1) { (queue) throws(TapError) in queue.headerSize }, 12, "the device's size")
        XCTAssertEqual(try link("hq0")?.queues, 2, "held here")
        XCTAssertThrowsError(try handoff.queues.withQueue(at: 2) { (queue) throws(TapError) in queue.headerSize })
        _ = consume handoff
        XCTAssertEqual(try link("hq0")?.queues, 0, "closed with the handoff")
    }

    func testDeliversWorkingDescriptorsWithAHeader() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--multiqueue").status, 0)
        let running = try XCTUnwrap(start([Self.binary, "send", "tap0", "--socket", path, "--queues", "3", "--offload", "csum,tso4"]))
        let (connection, text, fds) = try receive()
        XCTAssertEqual(text, #"{"version":1,"ifname":"tap0","tap_fds":3,"vhost_fds":0}"# + "\n")
        XCTAssertEqual(fds.count, 3)
        for fd in fds {
            XCTAssertEqual(try TunDescriptor(fd).interface().name, "tap0")
        }
        close(connection)
        let outcome = running.wait()
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        XCTAssertEqual(outcome.stdout, "tap0\n")
        XCTAssertEqual(try link("tap0")?.queues, 3, "the receiver holds the queues now")
        fds.forEach { close($0) }
        XCTAssertEqual(try link("tap0")?.queues, 0)
    }

    func testCreatedDeviceLivesWithTheReceiver() throws {
        let running = try XCTUnwrap(start([Self.binary, "send", "vm%d", "--create", "--socket", path, "--json"]))
        let (connection, text, fds) = try receive()
        XCTAssertTrue(text.contains(#""ifname":"vm0""#))
        close(connection)
        XCTAssertEqual(running.wait().stdout, #"{"name":"vm0","tap_fds":1,"vhost_fds":0}"# + "\n")
        XCTAssertEqual(try link("vm0")?.persistent, false)
        fds.forEach { close($0) }
        XCTAssertEqual(try tunLinks(), [], "gone with the receiver's descriptor")
    }

    func testAReceiverThatClosesEarlyIsAnErrorAndCreatedDevicesGo() throws {
        let running = try XCTUnwrap(start([Self.binary, "send", "vm%d", "--create", "--persist", "--socket", path]))
        let connection = accept(listener, nil, nil)
        usleep(200_000)  // let the message arrive unread
        close(connection)
        let outcome = running.wait()
        XCTAssertEqual(outcome.status, 1)
        XCTAssertEqual(outcome.stderr, "tapctl: send vm0: the receiver on \(path) closed the connection before reading the descriptors\n")
        XCTAssertEqual(try tunLinks(), [])
    }

    func testASilentReceiverTimesOut() throws {
        XCTAssertEqual(tapctl("create", "tap0").status, 0)
        let running = try XCTUnwrap(start([Self.binary, "send", "tap0", "--socket", path, "--timeout", "1"]))
        let (connection, _, fds) = try receive()
        let outcome = running.wait()
        XCTAssertEqual(outcome.status, 1)
        XCTAssertEqual(outcome.stderr, "tapctl: send tap0: the receiver on \(path) neither answered nor closed the connection within 1 s\n")
        close(connection)
        fds.forEach { close($0) }
    }

    func testMissingSocket() throws {
        XCTAssertEqual(tapctl("create", "tap0").status, 0)
        let outcome = tapctl("send", "tap0", "--socket", "/tmp/tapctl-no-such.sock")
        XCTAssertEqual(outcome.status, 1)
        XCTAssertEqual(outcome.stderr, "tapctl: send tap0: no socket at /tmp/tapctl-no-such.sock\n")
        XCTAssertEqual(tapctl("send", "tap0").stderr, "tapctl: send tap0: missing --socket PATH (see 'tapctl send --help')\n")
        XCTAssertEqual(tapctl("send", "tap0", "--socket", "/etc/hostname").stderr, "tapctl: send tap0: /etc/hostname is not a socket\n")
        XCTAssertEqual(try link("tap0")?.queues, 0)
    }

    /// Every JSON tapctl writes goes through one encoder: a name may hold '"',
    /// '\\', text that looks like an escape, and bytes above 0x7f, and a JSON
    /// reader must get back exactly the name the kernel reports.
    func testNamesAreEscapedInEveryJSONOutput() throws {
        let name = #"q"\u0031\é"#
        XCTAssertEqual(Array(name.utf8).count, 11)
        let running = try XCTUnwrap(start([Self.binary, "send", name, "--create", "--socket", path, "--json"]))
        let (connection, text, fds) = try receive()
        let header = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        XCTAssertEqual(header["ifname"] as? String, try TunDescriptor(try XCTUnwrap(fds.first)).interface().name)
        XCTAssertEqual(header["ifname"] as? String, name)
        close(connection)
        let sent = running.wait()
        XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(sent.stdout.utf8)) as? [String: Any], sent.stdout)
        fds.forEach { close($0) }
        XCTAssertEqual(tapctl("create", name).status, 0)
        for arguments in [["--json", "create", name, "--exist-ok"], ["--json", "show", name], ["--json", "list"]] {
            let outcome = spawn([Self.binary] + arguments)
            XCTAssertEqual(outcome.status, 0, outcome.stderr)
            let parsed = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8))
            let object = (parsed as? [[String: Any]])?.first ?? parsed as? [String: Any]
            XCTAssertEqual(object?["name"] as? String, name, "\(arguments)")
        }
    }
}
