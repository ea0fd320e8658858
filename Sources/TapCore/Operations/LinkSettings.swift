import Glibc
import CTapShim
import CLibcap

/// An Ethernet address, as `--mac` takes it.
public struct MACAddress: Equatable, Sendable, CustomStringConvertible {
    /// The six bytes, as written left to right.
    public let bytes: [UInt8]

    /// Why a text is no address a device can take; carried by `TapError.invalidMAC`.
    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        case malformed(String), multicast(String), zero

        public var description: String {
            switch self {
            case .malformed(let text): return "'\(text)' is not a MAC address (six hex bytes joined by ':' or '-')"
            case .multicast(let text): return "\(text) is a multicast address; a device needs a unicast one"
            case .zero: return "00:00:00:00:00:00 cannot be a device's address"
            }
        }
    }

    /// "aa:bb:cc:dd:ee:ff" (also with '-'), unicast and not all zero. Throws
    /// `TapError.invalidMAC`.
    public init(parsing text: String) throws(TapError) {
        do {
            bytes = try Self.parse(text)
        } catch {
            throw .invalidMAC(error)
        }
    }

    private static func parse(_ text: String) throws(Problem) -> [UInt8] {
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
        return bytes
    }

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// fe:ff:ff:ff:ff:ff, the highest unicast address: a bridge, which takes
    /// the lowest address of its ports, never takes a port's that has it.
    public static let bridgePort = MACAddress(bytes: [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff])

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
    /// Join the bridge of that name, or leave the one the device is a port of.
    public enum Bridge: Equatable, Sendable {
        case attach(String)
        case detach
    }

    /// IFF_UP in ifi_flags: true brings the device up, false down; nil leaves it.
    public var up: Bool?
    /// IFLA_MTU in bytes, within IFLA_MIN_MTU..IFLA_MAX_MTU (`mtuRange` before the device exists); nil leaves it.
    public var mtu: UInt32?
    /// IFLA_ADDRESS, for a tap only; nil leaves it.
    public var mac: MACAddress?
    /// IFLA_MASTER: join a bridge or leave one; nil leaves it as it is.
    public var bridge: Bridge?
    /// IFLA_TXQLEN, in packets; nil leaves it.
    public var txQueueLength: UInt32?

    /// Nothing to change.
    public init() {}

    /// Every setting is nil: nothing to change.
    public var isEmpty: Bool { self == LinkSettings() }

    /// The MTU the kernel gives a new tap.
    static let defaultMTU: UInt32 = 1500

    /// The limits the kernel puts on a device it has not made yet.
    public static func mtuRange(_ mode: TunMode) -> ClosedRange<UInt32> { mode == .tap ? 68...65521 : 68...65535 }
}

/// A setting that was applied, for `set`'s report: "mtu 9000", "up".
public typealias AppliedSetting = String

extension TapControl {
    /// Checks settings against the device (`device`, or for one not made yet
    /// its mode) and the bridge, changing nothing, and returns the settings to
    /// apply. Problems are usage errors. In privileged-helper mode the access
    /// list's bridge rules and limits apply, and a bridge port may not change
    /// its bridge: the kernel gives a bridge the lowest MTU and (unless set by
    /// hand) the lowest address of its ports, so a port's MTU may not be below
    /// the bridge's (joining without --mtu takes the bridge's, as QEMU's
    /// bridge helper does) and its address is fe:ff:ff:ff:ff:ff, the highest
    /// unicast address, which QEMU's helper gives every port.
    public func validate(_ settings: LinkSettings, device: Link?, mode: TunMode) throws(TapError) -> LinkSettings {
        var range = LinkSettings.mtuRange(mode)
        if let low = device?.minMTU, let high = device?.maxMTU { range = low...high }
        if let mtu = settings.mtu, !range.contains(mtu) {
            throw .invalidSetting("MTU \(mtu) is outside \(range.lowerBound)..\(range.upperBound) for this \(mode.rawValue) device")
        }
        if settings.mac != nil && mode == .tun {
            throw .invalidSetting("a tun device has no MAC address")
        }
        // The bridge the device joins, or the one it is a port of now.
        var bridge: Link?
        switch settings.bridge {
        case .attach(let name)?:
            var socket = try RouteSocket(system: system)
            guard let link = try socket.link(named: name) else { throw .noSuchBridge(name) }
            guard link.kind == "bridge" else {
                throw .invalidSetting("\(name) is not a bridge" + (link.kind.map { " (it is a \($0) device)" } ?? ""))
            }
            if mode == .tun { throw .invalidSetting("a tun device carries no Ethernet frames, so it cannot join a bridge") }
            try policy?.bridge(name)
            bridge = link
        case .detach?:
            if let policy, let index = device?.master {
                var socket = try RouteSocket(system: system)
                if let master = try socket.link(index: index) { try policy.bridge(master.name) }
            }
        case nil:
            if policy != nil, let index = device?.master {
                var socket = try RouteSocket(system: system)
                bridge = try socket.link(index: index)
            }
        }
        // A port takes its bridge's MTU unless told otherwise, as QEMU's bridge helper and libvirt do.
        var settings = settings
        if case .attach? = settings.bridge, settings.mtu == nil, let bridgeMTU = bridge?.mtu,
           (device?.mtu ?? LinkSettings.defaultMTU) != bridgeMTU {
            settings.mtu = bridgeMTU
        }
        guard let policy else { return settings }
        if let length = settings.txQueueLength { try policy.checkTxQueueLength(length, device: device?.name) }
        guard let bridge else { return settings }
        return try portSettings(settings, device: device, bridge: bridge)
    }

    /// Privileged-helper mode: what a device that is or becomes a port of
    /// `bridge` may set, so that it cannot change the bridge.
    private func portSettings(_ settings: LinkSettings, device: Link?, bridge: Link) throws(TapError) -> LinkSettings {
        var settings = settings
        let joining = settings.bridge != nil
        if let bridgeMTU = bridge.mtu {
            if let mtu = settings.mtu, mtu < bridgeMTU {
                throw .accessDenied(device?.name, "MTU \(mtu) is below bridge \(bridge.name)'s \(bridgeMTU), "
                                    + "and in privileged-helper mode a port cannot lower its bridge's MTU")
            }
            if joining, settings.mtu == nil, (device?.mtu ?? LinkSettings.defaultMTU) < bridgeMTU { settings.mtu = bridgeMTU }
        }
        let portAddress = MACAddress.bridgePort
        if let mac = settings.mac, mac != portAddress {
            throw .accessDenied(device?.name, "in privileged-helper mode a bridge port's address is \(portAddress), "
                                + "so that it never becomes bridge \(bridge.name)'s")
        }
        if joining, device?.address != portAddress.bytes { settings.mac = portAddress }
        return settings
    }

    /// Applies settings to `link`, by its index, one by one in the order a
    /// launcher would (MTU, address, queue length, bridge, then up or down),
    /// and stops at the first refusal, saying what had been applied by then.
    func apply(_ settings: LinkSettings, to link: Link) throws(TapError) -> [AppliedSetting] {
        // The gate judges the device as it is now, by its index: not as a caller described it.
        var device = link
        if policy != nil {
            var socket = try RouteSocket(system: system)
            guard let now = try socket.link(index: link.index), NameBytes(now.name) == NameBytes(link.name) else {
                throw .identityChanged(link.name)
            }
            device = now
        }
        // Raised before the socket is opened: the kernel checks the capability
        // of the socket's opener as well as the sender's.
        return try gate.withNetAdmin(PrivilegedChange(action: .configure(settings, device: device))) { () throws(TapError) -> [AppliedSetting] in
            var socket = try RouteSocket(system: system)
            let privileged = system.netAdminEffective()
            var steps: [(AppliedSetting, LinkRequest)] = []
            func step(_ what: AppliedSetting, flags: UInt32 = 0, change: UInt32 = 0, _ attributes: [Netlink.Attribute]) {
                steps.append((what, LinkRequest(type: UInt16(RTM_NEWLINK), index: link.index, flags: flags, change: change,
                                                attributes: attributes)))
            }
            // Leaving a bridge comes first, so the bridge left sees none of the changes after it.
            if case .detach? = settings.bridge { step("nobridge", [Netlink.Attribute(type: UInt16(IFLA_MASTER), uint32: 0)]) }
            if let mtu = settings.mtu { step("mtu \(mtu)", [Netlink.Attribute(type: UInt16(IFLA_MTU), uint32: mtu)]) }
            if let mac = settings.mac { step("mac \(mac)", [Netlink.Attribute(type: UInt16(IFLA_ADDRESS), payload: mac.bytes)]) }
            if let length = settings.txQueueLength {
                step("txqueuelen \(length)", [Netlink.Attribute(type: UInt16(IFLA_TXQLEN), uint32: length)])
            }
            switch settings.bridge {
            case .attach(let bridge)?:
                guard let master = try socket.link(named: bridge) else { throw .noSuchBridge(bridge) }
                step("bridge \(bridge)", [Netlink.Attribute(type: UInt16(IFLA_MASTER), uint32: UInt32(bitPattern: master.index))])
            case .detach?, nil:
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
                    throw .settingRefused(link.name, setting: what, errno == .EPERM && !privileged ? nil : errno, applied: applied)
                }
                applied.append(what)
            }
            return applied
        }
    }

    /// Changes the link settings of a tun/tap device and returns its name and
    /// what was applied. With root's CAP_NET_ADMIN a device NAME is changed
    /// over rtnetlink, in use or not. In privileged-helper mode tapctl first
    /// attaches a queue to it without CAP_NET_ADMIN in effect, so the kernel's
    /// owner check decides, and changes the device that queue belongs to (an
    /// idle one only; for a device in use, its holder passes a queue as
    /// `.descriptor`). Either way the change goes to the device's index.
    public func set(_ settings: LinkSettings, on target: Target) throws(TapError) -> (name: String, applied: [AppliedSetting]) {
        if case .name(let name) = target, policy == nil {
            let link = try device(named: name.value)
            return (link.name, try apply(try validate(settings, device: link, mode: link.tun?.mode ?? .tap), to: link))
        }
        return try withTarget(target, opened: {}) { (queue, link) throws(TapError) in
            // A descriptor may have been handed over by another user: the device must be the caller's too.
            if let policy, let tun = link.tun {
                try policy.device(link.name)
                try policy.owns(tun)
            }
            let applied = try apply(try validate(settings, device: link, mode: link.tun?.mode ?? .tap), to: link)
            // The queue pins the device, but a move to another namespace gives it a new index there.
            let after = try? heldLink(queue)
            guard after?.index == link.index else { throw .movedWhileActing(link.name, applied: applied) }
            return (link.name, applied)
        }
    }
}
