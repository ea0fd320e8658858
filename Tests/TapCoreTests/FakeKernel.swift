import Glibc
@testable import TapCore

/// A kernel stand-in: records every call and fails the ones it is told to.
final class FakeKernel: @unchecked Sendable {
    var calls: [String] = []
    var failures: [String: [Errno]] = [:]
    var closed: [CInt] = []
    /// What was closed besides the netlink sockets (fd 1000 here).
    var closedFiles: [CInt] { closed.filter { $0 != 1000 } }
    /// Paths opened, in order; each open gets the next number from 100.
    var opened: [String] = []
    /// Descriptors the fake process already has open.
    var openDescriptors: Set<CInt> = [0, 1, 2]
    var duplicated: [(CInt, CInt)] = []
    private var nextHigh: CInt = 200
    /// rtnetlink: each datagram sent, errors to answer by request number, and
    /// the queues a device it describes has.
    var datagrams: [[Netlink.Message]] = []
    var netlinkFailures: [Int: Errno] = [:]
    var deviceQueues: UInt32 = 1
    private var requests = 0
    private var pending: [UInt8] = []
    /// Fail the call with this number (every system call and netlink request
    /// counts, from 0) with `failWith`; `position` counts as they happen.
    var failAt: Int?
    var failWith = Errno.EINVAL
    private(set) var position = 0
    /// Positions that were netlink requests, whose "errno" is the kernel's
    /// answer, not an interrupted system call.
    private(set) var netlinkPositions: Set<Int> = []

    /// The next call's injected failure, if it is the one to fail.
    private func injected() -> Errno? {
        defer { position += 1 }
        return position == failAt ? failWith : nil
    }

    /// An RTM_NEWLINK reply for a multiqueue tap named in `request`.
    private func linkReply(to request: Netlink.Message) -> [UInt8] {
        let attributes = (try? Netlink.attributes(in: request.payload[16...])) ?? []
        let name: String = attributes.first(where: { $0.type == 3 }).flatMap { $0.string } ?? "tap0"
        var payload = [UInt8](repeating: 0, count: 16)
        payload.replaceSubrange(4..<8, with: [7, 0, 0, 0])
        payload += Netlink.encode([
            .init(type: 3, string: name),
            .init(nested: 18, [.init(type: 1, string: "tun"), .init(nested: 2, [
                .init(type: 3, payload: [2]), .init(type: 6, payload: [1]), .init(type: 7, payload: [1]),
                .init(type: 8, uint32: deviceQueues),
            ])]),
        ])
        return Netlink.Message(type: 16, flags: 0, sequence: request.sequence, payload: payload).encoded
    }

    private func answer(_ messages: [Netlink.Message]) {
        datagrams.append(messages)
        for message in messages {
            calls.append(message.type == 18 ? "RTM_GETLINK" : message.type == 17 ? "RTM_DELLINK" : "RTM_NEWLINK")
            netlinkPositions.insert(position)
            let failure = injected() ?? netlinkFailures[requests]
            requests += 1
            if message.type == 18 && failure == nil {
                pending += linkReply(to: message)
                if message.flags & 0x300 != 0 {  // a dump ends with NLMSG_DONE
                    pending += Netlink.Message(type: 3, flags: 2, sequence: message.sequence, payload: [0, 0, 0, 0]).encoded
                }
                continue
            }
            var payload: [UInt8] = []
            payload.appendNative(-(failure?.rawValue ?? 0))
            payload += Array(message.encoded.prefix(16))
            pending += Netlink.Message(type: 2, flags: 0, sequence: message.sequence, payload: payload).encoded
        }
    }

    static let names: [UInt: String] = [
        0x400454ca: "TUNSETIFF", 0x400454cb: "TUNSETPERSIST", 0x400454cc: "TUNSETOWNER",
        0x400454ce: "TUNSETGROUP", 0x800454d2: "TUNGETIFF",
    ]

    private func outcome(_ name: String) -> CInt {
        calls.append(name)
        if let errno = injected() {
            Errno.current = errno
            return -1
        }
        guard var queue = failures[name], !queue.isEmpty else { return 0 }
        Errno.current = queue.removeFirst()
        failures[name] = queue
        return -1
    }

    var system: SystemCalls {
        var system = SystemCalls.live
        system.open = { path, _ in
            guard self.outcome("open") == 0 else { return -1 }
            self.opened.append(String(cString: path))
            return 99 + CInt(self.opened.count)
        }
        system.fcntl = { fd, command, argument in
            switch command {
            case F_GETFD:
                if self.openDescriptors.contains(fd) { return 0 }
                Errno.current = .EBADF
                return -1
            case F_DUPFD_CLOEXEC:
                self.nextHigh += 1
                return max(self.nextHigh, argument)
            default: return 0
            }
        }
        system.dup2 = { fd, target in
            self.duplicated.append((fd, target))
            return target
        }
        system.close = { fd in self.closed.append(fd); return 0 }
        system.ioctl = { _, request, _ in self.outcome(Self.names[request] ?? "ioctl \(request)") }
        system.socket = { _, _, _ in self.outcome("socket") == 0 ? 1000 : -1 }
        system.send = { _, buffer, _ in
            self.answer((try? Netlink.messages(in: Array(buffer))) ?? [])
            return buffer.count
        }
        system.connect = { _, _ in self.outcome("connect") }
        system.sendmsg = { _, message, _ in
            guard self.outcome("sendmsg") == 0 else { return -1 }
            return message.pointee.msg_iov.pointee.iov_len
        }
        system.poll = { _, _, _ in self.outcome("poll") == 0 ? 1 : -1 }
        system.recv = { _, buffer, _ in
            let count = min(buffer.count, self.pending.count)
            buffer.copyBytes(from: self.pending.prefix(count))
            self.pending.removeFirst(count)
            return count
        }
        return system
    }
}

