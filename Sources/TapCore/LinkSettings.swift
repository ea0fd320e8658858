import Glibc
import CTapShim
import CLibcap

/// An Ethernet address, as `--mac` takes it.
public struct MACAddress: Equatable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        case malformed(String), multicast(String), zero

        public var description: String {
            switch self {
            case .malformed(let text): return "'\(text)' is not a MAC address (six hex bytes joined by ':')"
            case .multicast(let text): return "\(text) is a multicast address; a device needs a unicast one"
            case .zero: return "00:00:00:00:00:00 cannot be a device's address"
            }
        }
    }

    /// "aa:bb:cc:dd:ee:ff" (also with '-'), unicast and not all zero.
    public init(parsing text: String) throws(Problem) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).count == 6
            ? text.split(separator: ":", omittingEmptySubsequences: false)
            : text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 6 else { throw .malformed(text) }
        var bytes: [UInt8] = []
        for part in parts {
            guard (1...2).contains(part.count), part.allSatisfy(\.isHexDigit), let byte = UInt8(part, radix: 16) else {
                throw .malformed(text)
            }
            bytes.append(byte)
        }
        if bytes[0] & 1 == 1 { throw .multicast(text) }
        if bytes.allSatisfy({ $0 == 0 }) { throw .zero }
        self.bytes = bytes
    }

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// A random locally administered unicast address (x2:, x6:, xa:, xe:).
    public static func random() -> MACAddress {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<6).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[0] = (bytes[0] & 0xfe) | 0x02
        return MACAddress(bytes: bytes)
    }

    public var description: String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
    }
}

/// The `ip link set` part of a VM launcher's job, applied in one call.
public struct LinkSettings: Equatable, Sendable {
    public enum Bridge: Equatable, Sendable {
        case attach(String)
        case detach
    }

    public var up: Bool?
    public var mtu: UInt32?
    public var mac: MACAddress?
    public var bridge: Bridge?
    public var txQueueLength: UInt32?

    public init() {}

    public var isEmpty: Bool { self == LinkSettings() }

    /// The limits the kernel puts on a device it has not made yet.
    public static func mtuRange(_ mode: TunMode) -> ClosedRange<UInt32> { mode == .tap ? 68...65521 : 68...65535 }
}

/// A setting that was applied, for `set`'s report: "mtu 9000", "up".
public typealias AppliedSetting = String

extension TapControl {
    /// Checks settings against the device (or, for one not made yet, its mode)
    /// and the bridge, changing nothing. Problems are usage errors.
    public func validate(_ settings: LinkSettings, device name: String?, mode: TunMode) throws(TapError) {
        var socket = try RouteSocket(system: system)
        var range = LinkSettings.mtuRange(mode)
        if let name, let link = try socket.link(named: name), let low = link.minMTU, let high = link.maxMTU {
            range = low...high
        }
        if let mtu = settings.mtu, !range.contains(mtu) {
            throw .invalidSetting("MTU \(mtu) is outside \(range.lowerBound)..\(range.upperBound) for this \(mode.rawValue) device")
        }
        if settings.mac != nil && mode == .tun {
            throw .invalidSetting("a tun device has no MAC address")
        }
        if case .attach(let bridge)? = settings.bridge {
            guard let link = try socket.link(named: bridge) else { throw .invalidSetting("no bridge named \(bridge)") }
            guard link.kind == "bridge" else {
                throw .invalidSetting("\(bridge) is not a bridge" + (link.kind.map { " (it is a \($0) device)" } ?? ""))
            }
            if mode == .tun { throw .invalidSetting("a tun device carries no Ethernet frames, so it cannot join a bridge") }
        }
    }

    /// Applies settings one by one, in the order a launcher would (MTU, address,
    /// queue length, bridge, then up or down), and stops at the first refusal,
    /// saying what had been applied by then.
    public func apply(_ settings: LinkSettings, to name: String) throws(TapError) -> [AppliedSetting] {
        var socket = try RouteSocket(system: system)
        guard let link = try socket.link(named: name) else { throw .notFound(name) }
        var steps: [(AppliedSetting, LinkRequest)] = []
        func step(_ what: AppliedSetting, flags: UInt32 = 0, change: UInt32 = 0, _ attributes: [Netlink.Attribute]) {
            steps.append((what, LinkRequest(type: UInt16(RTM_NEWLINK), index: link.index, flags: flags, change: change,
                                            attributes: attributes)))
        }
        if let mtu = settings.mtu { step("mtu \(mtu)", [Netlink.Attribute(type: UInt16(IFLA_MTU), uint32: mtu)]) }
        if let mac = settings.mac { step("mac \(mac)", [Netlink.Attribute(type: UInt16(IFLA_ADDRESS), payload: mac.bytes)]) }
        if let length = settings.txQueueLength {
            step("txqueuelen \(length)", [Netlink.Attribute(type: UInt16(IFLA_TXQLEN), uint32: length)])
        }
        switch settings.bridge {
        case .attach(let bridge)?:
            guard let master = try socket.link(named: bridge) else { throw .invalidSetting("no bridge named \(bridge)") }
            step("bridge \(bridge)", [Netlink.Attribute(type: UInt16(IFLA_MASTER), uint32: UInt32(bitPattern: master.index))])
        case .detach?:
            step("nobridge", [Netlink.Attribute(type: UInt16(IFLA_MASTER), uint32: 0)])
        case nil:
            break
        }
        if let up = settings.up {
            step(up ? "up" : "down", flags: up ? UInt32(IFF_UP) : 0, change: UInt32(IFF_UP), [])
        }
        var applied: [AppliedSetting] = []
        for (what, request) in steps {
            if let errno = try socket.change([request])[0] {
                // The kernel also says EPERM when a driver refuses a change (tun
                // refuses a queue length it cannot allocate), so the capability decides.
                let unprivileged = errno == .EPERM && !Capabilities.hasEffective(CAP_NET_ADMIN)
                throw .settingRefused(name, setting: what, unprivileged ? nil : errno, applied: applied)
            }
            applied.append(what)
        }
        return applied
    }
}
