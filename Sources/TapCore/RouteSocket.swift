import Glibc
import CTapShim

/// A NETLINK_ROUTE socket that asks the kernel about links. Needs no privilege
/// and no sysfs, so it works in a namespace whose /sys was never remounted.
struct RouteSocket: ~Copyable {
    private let fd: CInt
    private let system: SystemCalls
    private var sequence: UInt32 = 0

    init(system: SystemCalls) throws(TapError) {
        do {
            fd = try retryingEINTR { system.socket(AF_NETLINK, CInt(SOCK_RAW.rawValue) | CInt(SOCK_CLOEXEC.rawValue), NETLINK_ROUTE) }
        } catch {
            throw .system("opening a netlink socket", error)
        }
        self.system = system
    }

    deinit { _ = system.close(fd) }

    /// Every tun/tap device in the namespace, in one dump filtered by kind in the kernel.
    mutating func tunLinks() throws(TapError) -> [TunLink] {
        let filter = Netlink.Attribute(nested: UInt16(IFLA_LINKINFO),
                                       [Netlink.Attribute(type: UInt16(IFLA_INFO_KIND), string: "tun")])
        let replies = try request(flags: NLM_F_DUMP, attributes: [filter])
        return replies.compactMap { $0.tun }
    }

    /// The device called `name`, or nil when there is none.
    mutating func link(named name: String) throws(TapError) -> Link? {
        do {
            return try request(flags: 0, attributes: [Netlink.Attribute(type: UInt16(IFLA_IFNAME), string: name)]).first
        } catch .system(_, let errno) where errno == .ENODEV {
            return nil
        }
    }

    private mutating func request(flags: CInt, attributes: [Netlink.Attribute]) throws(TapError) -> [Link] {
        sequence &+= 1
        let skipStats = Netlink.Attribute(type: UInt16(IFLA_EXT_MASK), uint32: UInt32(RTEXT_FILTER_SKIP_STATS))
        var payload = [UInt8](repeating: 0, count: MemoryLayout<ifinfomsg>.size)  // AF_UNSPEC, any index
        payload += Netlink.encode(attributes + [skipStats])
        let message = Netlink.Message(type: UInt16(RTM_GETLINK), flags: UInt16(NLM_F_REQUEST | flags),
                                      sequence: sequence, payload: payload)
        let bytes = message.encoded
        do {
            _ = try retryingEINTR { bytes.withUnsafeBytes { system.send(fd, $0, 0) } }
        } catch {
            throw .system("sending a netlink request", error)
        }
        var links: [Link] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count: Int
            do {
                count = try retryingEINTR { buffer.withUnsafeMutableBytes { system.recv(fd, $0, CInt(MSG_TRUNC)) } }
            } catch {
                throw .system("reading a netlink reply", error)
            }
            guard count <= buffer.count else { throw .system("reading a netlink reply", .EIO) }
            let messages: [Netlink.Message]
            do {
                messages = try Netlink.messages(in: Array(buffer[..<count]))
            } catch {
                throw .system("parsing a netlink reply", .EIO)
            }
            for reply in messages where reply.sequence == sequence {
                switch CInt(reply.type) {
                case NLMSG_DONE:
                    return links
                case NLMSG_ERROR:
                    let code: Int32
                    do { code = try Netlink.errorCode(of: reply) } catch { throw .system("parsing a netlink reply", .EIO) }
                    if code == 0 { return links }
                    throw .system("RTM_GETLINK", Errno(rawValue: -code))
                case CInt(RTM_NEWLINK):
                    do { links.append(try Link.decode(reply.payload)) } catch { throw .system("parsing a netlink reply", .EIO) }
                    if flags & NLM_F_DUMP == 0 { return links }
                default:
                    continue
                }
            }
        }
    }
}
