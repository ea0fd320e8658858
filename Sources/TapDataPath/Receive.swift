import Glibc
import CTapShim
import SystemPackage
import TapSystem

/// The queues of one device, owned together: closed when this value goes.
/// They share the device's header size (`TapQueue.headerSize`), so a size
/// set through one is the size every one parses frames with. `TapQueue` is
/// non-copyable, so an array of them cannot be made: a VMM keeps its N
/// queues here and borrows each with `withQueue(at:)`.
public struct TapQueues: ~Copyable {
    private let descriptors: [CInt]
    private let shared: SharedHeaderSize
    private let system: SystemCalls

    package init(_ descriptors: [CInt], system: SystemCalls) throws(TapError) {
        self.system = system
        do {
            // Adopted once to read the header size; the rest share it.
            let first = try TapQueue(adopting: descriptors.first ?? -1, sharing: nil, system: system)
            shared = first.shared
            _ = first.release()
        } catch {
            for fd in descriptors { _ = system.close(fd) }
            throw error
        }
        self.descriptors = descriptors
    }

    deinit {
        for fd in descriptors { _ = system.close(fd) }
    }

    /// How many queues there are.
    public var count: Int { descriptors.count }

    /// The descriptors, in order, for a poll or epoll loop; still owned here.
    public var fileDescriptors: [FileDescriptor] { descriptors.map(FileDescriptor.init(rawValue:)) }

    /// Runs `body` with queue `index` (0 ..< count), borrowed: it stays owned here.
    public func withQueue<R>(at index: Int, _ body: (borrowing TapQueue) throws(TapError) -> R) throws(TapError) -> R {
        guard descriptors.indices.contains(index) else { throw .noQueue(index: index, count: count) }
        let queue = TapQueue(borrowing: descriptors[index], sharing: shared, system: system)
        return try body(queue)
    }
}

/// What `tapctl send` passed: the device, its queues, and its vhost-net
/// descriptors. The device's name comes from the first queue (TUNGETIFF),
/// not from the header: a device is known by its descriptor.
public struct ReceivedHandoff: ~Copyable {
    /// The device the queues belong to.
    public let name: String
    /// The queues, owned.
    public let queues: TapQueues
    /// One /dev/vhost-net descriptor a queue, or none; closed with this value.
    public var vhostDescriptors: [FileDescriptor] { vhost.map(FileDescriptor.init(rawValue:)) }
    private let vhost: [CInt]
    private let system: SystemCalls

    package init(name: String, queues: consuming TapQueues, vhost: [CInt], system: SystemCalls) {
        self.name = name
        self.queues = queues
        self.vhost = vhost
        self.system = system
    }

    deinit {
        for fd in vhost { _ = system.close(fd) }
    }
}

extension ReceivedHandoff {
    /// Receives one handoff of `tapctl send` on the connected Unix socket
    /// `socket` (one accepted from a listener): its header line
    /// (`{"version":1,"ifname":...,"tap_fds":N,"vhost_fds":M}`) and its
    /// descriptors, queues first. Everything is checked before it is handed
    /// back (the version, the counts, each queue attached to one device);
    /// on any failure every descriptor received is closed. The sender waits
    /// for an answer or for the connection to close: close `socket` after.
    public static func receive(on socket: FileDescriptor, system: SystemCalls = .live) throws(TapError) -> ReceivedHandoff {
        let (count, payload, received) = receiveMessage(on: socket.rawValue, system: system)
        func refuse(_ error: TapError) -> TapError {
            for fd in received { _ = system.close(fd) }
            return error
        }
        guard count > 0 else { throw refuse(count == 0 ? .peerClosed("the socket") : .system(.recvmsg, .current)) }
        let text = String(decoding: payload.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        guard let header = HandoffHeader(text), header.version == 1 else {
            throw refuse(.malformedHandoff(.notAHeader(text)))
        }
        guard header.tapFDs >= 1, received.count == header.tapFDs + header.vhostFDs else {
            throw refuse(.malformedHandoff(.countMismatch(queues: header.tapFDs, vhost: header.vhostFDs, received: received.count)))
        }
        let taps = Array(received.prefix(header.tapFDs)), vhost = Array(received.dropFirst(header.tapFDs))
        // Every queue must be a queue of one and the same device.
        let name: String
        do throws(TapError) {
            let names = try taps.map { (fd) throws(TapError) in try TunDescriptor(fd, system: system).device().name }
            guard let first = names.first, names.allSatisfy({ NameBytes($0) == NameBytes(first) }) else {
                throw TapError.malformedHandoff(.differentDevices(names))
            }
            name = first
        } catch {
            throw refuse(error)
        }
        let queues: TapQueues
        do {
            queues = try TapQueues(taps, system: system)
        } catch {
            for fd in vhost { _ = system.close(fd) }
            throw error
        }
        return ReceivedHandoff(name: name, queues: queues, vhost: vhost, system: system)
    }
}

/// The header line of a handoff: a flat JSON object of strings and numbers,
/// read without Foundation.
package struct HandoffHeader {
    package var version = 0, tapFDs = 0, vhostFDs = 0
    package var name = ""

    package init?(_ text: String) {
        var scalars = Array(text.unicodeScalars)[...]
        func skipSpace() { while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() } }
        func take(_ scalar: Unicode.Scalar) -> Bool {
            skipSpace()
            guard scalars.first == scalar else { return false }
            scalars.removeFirst()
            return true
        }
        func string() -> String? {
            guard take("\"") else { return nil }
            var out = ""
            while let scalar = scalars.popFirst() {
                switch scalar {
                case "\"": return out
                case "\\":
                    guard let escaped = scalars.popFirst() else { return nil }
                    switch escaped {
                    case "n": out += "\n"
                    case "t": out += "\t"
                    case "r": out += "\r"
                    case "u":
                        let hex = String(String.UnicodeScalarView(scalars.prefix(4)))
                        scalars = scalars.dropFirst(4)
                        guard hex.count == 4, let value = UInt32(hex, radix: 16), let decoded = Unicode.Scalar(value) else { return nil }
                        out.unicodeScalars.append(decoded)
                    default: out.unicodeScalars.append(escaped)
                    }
                default: out.unicodeScalars.append(scalar)
                }
            }
            return nil
        }
        guard take("{") else { return nil }
        while !take("}") {
            guard let key = string(), take(":") else { return nil }
            skipSpace()
            if scalars.first == "\"" {
                guard let value = string() else { return nil }
                if key == "ifname" { name = value }
            } else {
                let digits = scalars.prefix { ("0"..."9").contains($0) }
                guard !digits.isEmpty, let value = Int(String(String.UnicodeScalarView(digits))) else { return nil }
                scalars = scalars.dropFirst(digits.count)
                switch key {
                case "version": version = value
                case "tap_fds": tapFDs = value
                case "vhost_fds": vhostFDs = value
                default: break
                }
            }
            _ = take(",")
        }
    }
}

/// One recvmsg on a Unix socket: how many bytes came (negative with errno
/// set), those bytes, and every descriptor of its SCM_RIGHTS messages
/// (close-on-exec), which are the caller's to close, even with an error.
package func receiveMessage(on socket: CInt, system: SystemCalls) -> (count: Int, payload: [UInt8], fds: [CInt]) {
    var payload = [UInt8](repeating: 0, count: 4096)
    var control = [UInt8](repeating: 0, count: ctap_cmsg_space(512 * MemoryLayout<CInt>.size))
    var received: [CInt] = []
    let count = payload.withUnsafeMutableBytes { payloadBytes in
        control.withUnsafeMutableBytes { controlBytes in
            var vector = iovec(iov_base: payloadBytes.baseAddress, iov_len: payloadBytes.count)
            return withUnsafeMutablePointer(to: &vector) { vector in
                var message = msghdr(msg_name: nil, msg_namelen: 0, msg_iov: vector, msg_iovlen: 1,
                                     msg_control: controlBytes.baseAddress, msg_controllen: controlBytes.count, msg_flags: 0)
                let count = system.recvmsg(socket, &message, CInt(MSG_CMSG_CLOEXEC))
                var offset = 0
                while count >= 0, offset + ctap_cmsg_len(0) <= message.msg_controllen, let base = controlBytes.baseAddress {
                    let header = (base + offset).assumingMemoryBound(to: cmsghdr.self)
                    let length = Int(header.pointee.cmsg_len)
                    guard length >= ctap_cmsg_len(0) else { break }
                    if header.pointee.cmsg_level == SOL_SOCKET && header.pointee.cmsg_type == CInt(SCM_RIGHTS),
                       let data = UnsafeRawPointer(ctap_cmsg_data(header)) {
                        for index in 0..<((length - ctap_cmsg_len(0)) / MemoryLayout<CInt>.size) {
                            received.append(data.load(fromByteOffset: index * MemoryLayout<CInt>.size, as: CInt.self))
                        }
                    }
                    offset += ctap_cmsg_space(length - ctap_cmsg_len(0))
                }
                return count
            }
        }
    }
    return (count, Array(payload.prefix(max(count, 0))), received)
}
