import Glibc
import CTapShim
import SystemPackage
import TapSystem
import TapDataPath

/// A NETLINK_ROUTE socket. Reading links needs no privilege and no sysfs, so it
/// works in a namespace whose /sys was never remounted; changing them needs
/// CAP_NET_ADMIN.
struct RouteSocket: ~Copyable {
    private let fd: CInt
    private let system: SystemCalls
    private var sequence: UInt32 = 0

    init(system: SystemCalls) throws(TapError) {
        do {
            fd = try retryingEINTR { system.socket(AF_NETLINK, CInt(SOCK_RAW.rawValue) | CInt(SOCK_CLOEXEC.rawValue), NETLINK_ROUTE) }
        } catch {
            throw .system(.netlink(.open), error)
        }
        self.system = system
    }

    deinit { _ = system.close(fd) }

    /// Every tun/tap device in the namespace, in one dump filtered by kind in the kernel.
    mutating func tunLinks() throws(TapError) -> [TunLink] {
        let filter = Netlink.Attribute(nested: UInt16(IFLA_LINKINFO),
                                       [Netlink.Attribute(type: UInt16(IFLA_INFO_KIND), string: "tun")])
        return try links(filter: [filter]).compactMap(\.tun)
    }

    /// Every device in the namespace, of any kind.
    mutating func links(filter: [Netlink.Attribute] = []) throws(TapError) -> [Link] {
        let replies = try exchange([getLink(flags: NLM_F_DUMP, filter)]).replies
        do {
            return try replies.map { (message) throws(Netlink.ParseError) in try Link.decode(message.payload) }
        } catch {
            throw .system(.netlink(.parse), .ioError)
        }
    }

    /// The device called `name`, or nil when there is none.
    mutating func link(named name: String) throws(TapError) -> Link? {
        try link(getLink(flags: 0, [Netlink.Attribute(type: UInt16(IFLA_IFNAME), string: name)]))
    }

    /// The device with this index (a port's bridge, say), or nil when there is none.
    mutating func link(index: Int32) throws(TapError) -> Link? {
        try link(getLink(flags: 0, [], index: index))
    }

    private mutating func link(_ request: Netlink.Message) throws(TapError) -> Link? {
        let answer = try exchange([request])
        if let errno = answer.errors[0] {
            if errno == .operationNotSupportedByDevice { return nil }
            throw .system(.link(.get), errno)
        }
        do {
            return try answer.replies.first.map { (message) throws(Netlink.ParseError) in try Link.decode(message.payload) }
        } catch {
            throw .system(.netlink(.parse), .ioError)
        }
    }

    /// Sends link changes (RTM_NEWLINK or RTM_DELLINK, each asking for an
    /// acknowledgement) a batch to a datagram, and returns each one's errno, nil
    /// for success, in order. Each acknowledgement takes room in the socket's
    /// receive buffer, so a batch is kept small enough that its acknowledgements
    /// cannot overflow it (ENOBUFS).
    mutating func change(_ requests: [LinkRequest]) throws(TapError) -> [Errno?] {
        var results: [Errno?] = []
        var start = 0
        while start < requests.count {
            let batch = requests[start..<min(start + 64, requests.count)]
            results += try exchange(batch.map { $0.message(flags: NLM_F_REQUEST | NLM_F_ACK) }).errors
            start += batch.count
        }
        return results
    }

    /// Sends requests of any rtnetlink family (addresses, routes, traffic
    /// control), each asking for an acknowledgement; returns each one's errno,
    /// nil for success, in order.
    mutating func acknowledged(_ messages: [Netlink.Message]) throws(TapError) -> [Errno?] {
        try exchange(messages).errors
    }

    /// A dump of any rtnetlink family (`RTM_GETQDISC`, say), its replies in order.
    mutating func dump(_ message: Netlink.Message) throws(TapError) -> [Netlink.Message] {
        let answer = try exchange([message])
        if let errno = answer.errors.first ?? nil { throw .system(.netlink(.receive), errno) }
        return answer.replies
    }

    private func getLink(flags: CInt, _ attributes: [Netlink.Attribute], index: Int32 = 0) -> Netlink.Message {
        let skipStats = Netlink.Attribute(type: UInt16(IFLA_EXT_MASK), uint32: UInt32(RTEXT_FILTER_SKIP_STATS))
        return LinkRequest(type: UInt16(RTM_GETLINK), index: index, attributes: attributes + [skipStats])
            .message(flags: NLM_F_REQUEST | flags)
    }

    /// Sends `messages` in one datagram with consecutive sequence numbers and
    /// reads until each has ended: by an NLMSG_ERROR (an acknowledgement when its
    /// code is 0), by NLMSG_DONE, or by its one reply.
    private mutating func exchange(_ messages: [Netlink.Message]) throws(TapError) -> (replies: [Netlink.Message], errors: [Errno?]) {
        let first = sequence &+ 1
        var bytes: [UInt8] = []
        var expectsAck: [Bool] = []
        for var message in messages {
            sequence &+= 1
            message.sequence = sequence
            bytes += message.encoded
            expectsAck.append(message.flags & UInt16(NLM_F_ACK) != 0 || message.flags & UInt16(NLM_F_DUMP) != 0)
        }
        do {
            _ = try retryingEINTR { bytes.withUnsafeBytes { system.send(fd, $0, 0) } }
        } catch {
            throw .system(.netlink(.send), error)
        }
        var replies: [Netlink.Message] = []
        var errors = [Errno?](repeating: nil, count: messages.count)
        var open = Set(0..<messages.count)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while !open.isEmpty {
            let count: Int
            do {
                count = try retryingEINTR { buffer.withUnsafeMutableBytes { system.recv(fd, $0, CInt(MSG_TRUNC)) } }
            } catch {
                throw .system(.netlink(.receive), error)
            }
            // A netlink socket never reads 0 bytes or a truncated datagram; either would loop here.
            guard count > 0, count <= buffer.count else { throw .system(.netlink(.receive), .ioError) }
            let received: [Netlink.Message]
            do {
                received = try Netlink.messages(in: Array(buffer[..<count]))
            } catch {
                throw .system(.netlink(.parse), .ioError)
            }
            for reply in received {
                let index = Int(reply.sequence &- first)
                guard open.contains(index) else { continue }
                switch CInt(reply.type) {
                case NLMSG_DONE:
                    open.remove(index)
                case NLMSG_ERROR:
                    let code: Int32
                    do { code = try Netlink.errorCode(of: reply) } catch { throw .system(.netlink(.parse), .ioError) }
                    errors[index] = code == 0 ? nil : Errno(rawValue: -code)
                    open.remove(index)
                default:
                    replies.append(reply)
                    if !expectsAck[index] { open.remove(index) }
                }
            }
        }
        return (replies, errors)
    }
}

/// One rtnetlink link message: struct ifinfomsg and attributes.
struct LinkRequest {
    var type: UInt16
    var index: Int32 = 0
    var flags: UInt32 = 0
    var change: UInt32 = 0
    var attributes: [Netlink.Attribute] = []

    func message(flags requestFlags: CInt) -> Netlink.Message {
        var payload: [UInt8] = [UInt8(AF_UNSPEC), 0, 0, 0]  // family, pad, type
        payload.appendNative(index)
        payload.appendNative(flags)
        payload.appendNative(change)
        return Netlink.Message(type: type, flags: UInt16(requestFlags), sequence: 0,
                               payload: payload + Netlink.encode(attributes))
    }
}
