import XCTest
import Glibc
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

/// TapQueue against the fake kernel: frames with their virtio-net header,
/// scatter/gather, non-blocking reads, EINTR, and queues taken from a handoff.
final class TapQueueTests: XCTestCase {
    private func queue(_ kernel: FakeKernel) throws -> TapQueue {
        try TapQueue(adopting: FileDescriptor(rawValue: 7), system: kernel.system)
    }

    func testHeaderRoundTrip() throws {
        var header = VirtioNetHeader()
        header.flags = [.needsChecksum]
        header.segmentation = .tcp6
        header.ecn = true
        header.headerLength = 74
        header.segmentSize = 1448
        header.checksumStart = 54
        header.checksumOffset = 16
        header.buffers = 1
        var bytes = [UInt8](repeating: 0xff, count: 12)
        bytes.withUnsafeMutableBytes { header.encode(into: $0) }
        XCTAssertEqual(bytes, [1, 0x84, 74, 0, 0xa8, 0x05, 54, 0, 16, 0, 1, 0])
        XCTAssertEqual(try bytes.withUnsafeBytes { try VirtioNetHeader(bytes: $0) }, header)
        XCTAssertThrowsError(try [UInt8](repeating: 0, count: 9).withUnsafeBytes { try VirtioNetHeader(bytes: $0) })
        XCTAssertThrowsError(try ([0, 2, 0, 0, 0, 0, 0, 0, 0, 0] as [UInt8]).withUnsafeBytes { try VirtioNetHeader(bytes: $0) }, "gso_type 2 is not one")
    }

    func testSendAndReceiveCarryTheHeaderApart() throws {
        let kernel = FakeKernel()
        let queue = try queue(kernel)
        XCTAssertEqual(queue.headerSize, 12, "IFF_VNET_HDR and TUNGETVNETHDRSZ, read on adoption")
        var header = VirtioNetHeader()
        header.flags = [.needsChecksum]
        header.checksumStart = 34
        header.checksumOffset = 2
        let frame: [UInt8] = [1, 2, 3, 4]
        XCTAssertEqual(try frame.withUnsafeBytes { try queue.send($0, header: header) }, 4)
        XCTAssertEqual(kernel.framesWritten, [[1, 0, 0, 0, 0, 0, 34, 0, 2, 0, 0, 0, 1, 2, 3, 4]])
        kernel.framesToRead = [[2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 9, 8, 7]]
        var buffer = [UInt8](repeating: 0, count: 64)
        let received = try buffer.withUnsafeMutableBytes { try queue.receive(into: $0) }
        XCTAssertEqual(received?.length, 3)
        XCTAssertEqual(received?.header?.flags, [.dataValid])
        XCTAssertEqual(received?.header?.buffers, 1)
        XCTAssertEqual(Array(buffer.prefix(3)), [9, 8, 7])
        XCTAssertNil(try buffer.withUnsafeMutableBytes { try queue.receive(into: $0) }, "nothing now: EAGAIN is nil")
    }

    func testScatterGatherAndRawFrames() throws {
        let kernel = FakeKernel()
        kernel.queueFlags = [.tap, .noPI]
        let queue = try queue(kernel)
        XCTAssertEqual(queue.headerSize, 0)
        let first: [UInt8] = [1, 2], second: [UInt8] = [3]
        let written = try first.withUnsafeBytes { a in try second.withUnsafeBytes { b in try queue.write([a, b]) } }
        XCTAssertEqual(written, 3)
        XCTAssertEqual(try ([5, 6] as [UInt8]).withUnsafeBytes { try queue.write($0) }, 2)
        XCTAssertEqual(kernel.framesWritten, [[1, 2, 3], [5, 6]])
        kernel.framesToRead = [[1, 2, 3, 4, 5], [6]]
        var head = [UInt8](repeating: 0, count: 2), tail = [UInt8](repeating: 0, count: 8)
        let count = try head.withUnsafeMutableBytes { a in try tail.withUnsafeMutableBytes { b in try queue.read(into: [a, b]) } }
        XCTAssertEqual(count, 5)
        XCTAssertEqual(head + tail.prefix(3), [1, 2, 3, 4, 5])
        // The caller's own iovecs, as a virtqueue's descriptor chain gives them.
        kernel.framesToRead = [[7, 8, 9], [6]]
        var low = [UInt8](repeating: 0, count: 1), high = [UInt8](repeating: 0, count: 4)
        let read = try low.withUnsafeMutableBytes { a in
            try high.withUnsafeMutableBytes { b in
                let vectors = [iovec(iov_base: a.baseAddress, iov_len: a.count), iovec(iov_base: b.baseAddress, iov_len: b.count)]
                return try vectors.withUnsafeBufferPointer { try queue.read(vectors: $0) }
            }
        }
        XCTAssertEqual(read, 3)
        XCTAssertEqual(low + high.prefix(2), [7, 8, 9])
        let sent = try low.withUnsafeMutableBytes { a in
            try high.withUnsafeMutableBytes { b in
                let vectors = [iovec(iov_base: a.baseAddress, iov_len: a.count), iovec(iov_base: b.baseAddress, iov_len: 2)]
                return try vectors.withUnsafeBufferPointer { try queue.write(vectors: $0) }
            }
        }
        XCTAssertEqual(sent, 3)
        XCTAssertEqual(kernel.framesWritten.last, [7, 8, 9])
        kernel.failures["read"] = [.interrupted]
        var one = [UInt8](repeating: 0, count: 4)
        XCTAssertEqual(try one.withUnsafeMutableBytes { try queue.read(into: $0) }, 1, "EINTR is retried")
        kernel.failures["write"] = [.ioError]
        XCTAssertThrowsError(try ([0] as [UInt8]).withUnsafeBytes { try queue.write($0) }) {
            XCTAssertEqual($0 as? TapError, .system(.write, .ioError))
        }
    }

    /// Queues come out of a handoff one by one; the rest close with it.
    func testQueuesTakenFromAHandoff() throws {
        let kernel = FakeKernel()
        kernel.deviceQueues = 0
        var request = HandoffRequest(name: try InterfaceName("tap0"))
        request.queues = 3
        var handoff = try TapControl(system: kernel.system).open(request)
        var taken: [CInt] = []
        for _ in 0..<2 { if let queue = try handoff.takeQueue() { taken.append(queue.release().rawValue) } }
        XCTAssertEqual(taken, [100, 101])
        XCTAssertEqual(handoff.tapFDs, [102])
        _ = consume handoff
        XCTAssertEqual(kernel.closedFiles.filter { $0 >= 100 }, [102], "the handoff closed only the queue left in it")
    }

    func testAdoptingWhatIsNoQueueLeavesItOpen() {
        let kernel = FakeKernel()
        kernel.failures["TUNGETIFF"] = [.inappropriateIOCTLForDevice]
        XCTAssertThrowsError(try TapQueue(adopting: FileDescriptor(rawValue: 9), system: kernel.system).release()) {
            XCTAssertEqual($0 as? TapError, .notTunDescriptor(fd: 9))
        }
        XCTAssertEqual(kernel.closed, [], "not ours to close")
    }
}

/// What a program that imports TapCore alone can ask of its capabilities.
final class CapabilityQuestionTests: XCTestCase {
    func testTheCapabilitiesHaveNamesOfTheirOwn() {
        // Root in the test namespace has all three; the point is that this compiles without libcap.
        let answers = [Capabilities.hasEffective(.netAdmin), Capabilities.hasEffective(.sysAdmin), Capabilities.hasEffective(.setpcap)]
        XCTAssertEqual(answers.count, 3)
        XCTAssertEqual(Capabilities.hasEffective(.netAdmin), geteuid() == 0 ? Capabilities.hasEffective(.sysAdmin) : false)
    }
}
