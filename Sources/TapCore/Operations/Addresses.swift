import Glibc
import CTapShim
import SystemPackage
import TapSystem
import TapDataPath

/// An IP address with its prefix length, as CNI results and `ip addr` write
/// it: "192.0.2.7/24", "2001:db8::7/64".
public struct IPPrefix: Equatable, Sendable {
    /// The address's bytes: 4 for IPv4, 16 for IPv6.
    public let bytes: [UInt8]
    /// The prefix length.
    public let length: UInt8

    /// AF_INET or AF_INET6.
    var family: UInt8 { bytes.count == 4 ? UInt8(AF_INET) : UInt8(AF_INET6) }

    /// Parses "ADDRESS/LENGTH", or a bare address (a host prefix) when `bare` is allowed.
    public init?(_ text: String, bare: Bool = false) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 || (bare && parts.count == 1) else { return nil }
        let address = String(parts[0])
        if let bytes = Self.address(address, family: AF_INET, size: 4) {
            self.bytes = bytes
        } else if let bytes = Self.address(address, family: AF_INET6, size: 16) {
            self.bytes = bytes
        } else {
            return nil
        }
        let maximum = bytes.count * 8
        if parts.count == 2 {
            guard let length = UInt8(parts[1]), Int(length) <= maximum else { return nil }
            self.length = length
        } else {
            self.length = UInt8(maximum)
        }
    }

    private static func address(_ text: String, family: CInt, size: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: size)
        let parsed = bytes.withUnsafeMutableBytes { inet_pton(family, text, $0.baseAddress) }
        return parsed == 1 ? bytes : nil
    }
}

extension TapControl {
    /// Adds `address` to the device called `name` (RTM_NEWADDR), as `ip addr add` does.
    public func addAddress(_ address: IPPrefix, to name: String) throws(TapError) {
        let link = try anyLink(name)
        var header: [UInt8] = [address.family, address.length, 0, UInt8(RT_SCOPE_UNIVERSE.rawValue)]
        header.appendNative(UInt32(bitPattern: link.index))
        let attributes = [Netlink.Attribute(type: UInt16(IFA_LOCAL), payload: address.bytes),
                          Netlink.Attribute(type: UInt16(IFA_ADDRESS), payload: address.bytes)]
        try send(Netlink.Message(type: UInt16(RTM_NEWADDR), flags: UInt16(NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL),
                                 sequence: 0, payload: header + Netlink.encode(attributes)), on: name, about: .address(name))
    }

    /// Adds a route to `destination` through the device called `name`, by
    /// `gateway` when there is one (RTM_NEWROUTE, the main table).
    public func addRoute(to destination: IPPrefix, gateway: IPPrefix?, via name: String) throws(TapError) {
        let link = try anyLink(name)
        var payload: [UInt8] = [destination.family, destination.length, 0, 0,
                                UInt8(RT_TABLE_MAIN.rawValue), UInt8(RTPROT_BOOT),
                                UInt8((gateway == nil ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE).rawValue), UInt8(RTN_UNICAST)]
        payload.appendNative(UInt32(0))
        var attributes = [Netlink.Attribute(type: UInt16(RTA_OIF.rawValue), uint32: UInt32(bitPattern: link.index))]
        if destination.length > 0 { attributes.append(Netlink.Attribute(type: UInt16(RTA_DST.rawValue), payload: destination.bytes)) }
        if let gateway { attributes.append(Netlink.Attribute(type: UInt16(RTA_GATEWAY.rawValue), payload: gateway.bytes)) }
        try send(Netlink.Message(type: UInt16(RTM_NEWROUTE), flags: UInt16(NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL),
                                 sequence: 0, payload: payload + Netlink.encode(attributes)), on: name, about: .route(name))
    }

    /// Records `alias` on the device called `name` (IFLA_IFALIAS), which only
    /// CAP_NET_ADMIN can change: who made it, for a later clean-up to find.
    public func tag(_ name: String, as alias: String) throws(TapError) {
        let request = LinkRequest(type: UInt16(RTM_NEWLINK), index: try anyLink(name).index,
                                  attributes: [Netlink.Attribute(type: UInt16(IFLA_IFALIAS), string: alias)])
        if let errno = try sandboxRequests([request.message(flags: NLM_F_REQUEST | NLM_F_ACK)], on: name)[0] {
            throw .system(.link(.recordMaker), errno)
        }
    }

    /// The alias of the device called `name` (any kind), nil when it has none;
    /// `notFound` when there is no such device.
    public func alias(of name: String) throws(TapError) -> String? {
        try anyLink(name).alias
    }

    /// Whether a device of any kind is called `name`.
    public func exists(_ name: String) throws(TapError) -> Bool {
        var socket = try RouteSocket(system: system)
        return try socket.link(named: name) != nil
    }

    /// The device called `name`, of any kind.
    func anyLink(_ name: String) throws(TapError) -> Link {
        var socket = try RouteSocket(system: system)
        guard let link = try socket.link(named: name) else { throw .notFound(name) }
        return link
    }

    /// Sends rtnetlink requests about the sandbox's `device` through the gate
    /// (root's alone); each one's errno, nil for success.
    func sandboxRequests(_ messages: [Netlink.Message], on device: String) throws(TapError) -> [Errno?] {
        var socket = try RouteSocket(system: system)
        return try gate.withNetAdmin(PrivilegedChange(action: .sandboxNetwork(device: device))) { () throws(TapError) in
            try socket.acknowledged(messages)
        }
    }

    private func send(_ message: Netlink.Message, on device: String, about operation: LinkRequestKind) throws(TapError) {
        if let errno = try sandboxRequests([message], on: device)[0] { throw .system(.link(operation), errno) }
    }
}

extension NetworkNamespace {
    /// Runs `body` in the network namespace at `path` (a CNI sandbox, say),
    /// entered for the calling thread, and comes back afterwards. `noNamespace`
    /// when there is no file at `path`.
    public static func within<T>(_ path: String, system: SystemCalls = .live,
                                 _ body: () throws(TapError) -> T) throws(TapError) -> T {
        let home = try DeviceLocator(system: system).currentNetworkNamespace()
        defer { _ = system.close(home) }
        try enter(path, system: system)
        defer { _ = system.setNetworkNamespace(home) }
        return try body()
    }
}
