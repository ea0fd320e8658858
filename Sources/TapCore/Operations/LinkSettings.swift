import Glibc
import CTapShim
import CLibcap
import SystemPackage
import TapSystem
import TapDataPath

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

    /// The changes these settings make, in the order they are made: leaving a
    /// bridge first, so the bridge left sees none of the others.
    public var steps: [LinkStep] {
        var steps: [LinkStep] = []
        if case .detach? = bridge { steps.append(.leaveBridge) }
        if let mtu { steps.append(.mtu(mtu)) }
        if let mac { steps.append(.mac(mac)) }
        if let txQueueLength { steps.append(.txQueueLength(txQueueLength)) }
        if case .attach(let name)? = bridge { steps.append(.joinBridge(name)) }
        if let up { steps.append(.up(up)) }
        return steps
    }

    /// Every setting is nil: nothing to change.
    public var isEmpty: Bool { self == LinkSettings() }

    /// The MTU the kernel gives a new tap.
    static let defaultMTU: UInt32 = 1500

    /// The limits the kernel puts on a device it has not made yet.
    public static func mtuRange(_ mode: TunMode) -> ClosedRange<UInt32> { mode == .tap ? 68...65521 : 68...65535 }
}

/// A setting that was applied, for `set`'s report.
public typealias AppliedSetting = LinkStep

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
            throw .mtuOutOfRange(mtu, allowed: range, mode: mode)
        }
        if settings.mac != nil && mode == .tun {
            throw .notEthernet(.mac)
        }
        // The bridge the device joins, or the one it is a port of now.
        var bridge: Link?
        switch settings.bridge {
        case .attach(let name)?:
            var socket = try RouteSocket(system: system)
            guard let link = try socket.link(named: name) else { throw .noSuchBridge(name) }
            guard link.kind == "bridge" else {
                throw .notABridge(name, kind: link.kind)
            }
            if mode == .tun { throw .notEthernet(.bridge) }
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
                throw .accessDenied(device?.name, .mtuBelowBridge(mtu, bridge: bridge.name, bridgeMTU: bridgeMTU))
            }
            if joining, settings.mtu == nil, (device?.mtu ?? LinkSettings.defaultMTU) < bridgeMTU { settings.mtu = bridgeMTU }
        }
        let portAddress = MACAddress.bridgePort
        if let mac = settings.mac, mac != portAddress {
            throw .accessDenied(device?.name, .portAddress(required: portAddress, bridge: bridge.name))
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
            let privileged = system.privileges.isEffective(.netAdmin)
            var steps: [(AppliedSetting, LinkRequest)] = []
            func step(_ what: AppliedSetting, flags: UInt32 = 0, change: UInt32 = 0, _ attributes: [Netlink.Attribute]) {
                steps.append((what, LinkRequest(type: UInt16(RTM_NEWLINK), index: link.index, flags: flags, change: change,
                                                attributes: attributes)))
            }
            // Leaving a bridge comes first, so the bridge left sees none of the changes after it.
            if case .detach? = settings.bridge { step(.leaveBridge, [Netlink.Attribute(type: UInt16(IFLA_MASTER), uint32: 0)]) }
            if let mtu = settings.mtu { step(.mtu(mtu), [Netlink.Attribute(type: UInt16(IFLA_MTU), uint32: mtu)]) }
            if let mac = settings.mac { step(.mac(mac), [Netlink.Attribute(type: UInt16(IFLA_ADDRESS), payload: mac.bytes)]) }
            if let length = settings.txQueueLength {
                step(.txQueueLength(length), [Netlink.Attribute(type: UInt16(IFLA_TXQLEN), uint32: length)])
            }
            switch settings.bridge {
            case .attach(let bridge)?:
                guard let master = try socket.link(named: bridge) else { throw .noSuchBridge(bridge) }
                step(.joinBridge(bridge), [Netlink.Attribute(type: UInt16(IFLA_MASTER), uint32: UInt32(bitPattern: master.index))])
            case .detach?, nil:
                break
            }
            if let up = settings.up {
                step(.up(up), flags: up ? UInt32(IFF_UP) : 0, change: UInt32(IFF_UP), [])
            }
            var applied: [AppliedSetting] = []
            for (what, request) in steps {
                if let errno = try socket.change([request])[0] {
                    // The kernel also says EPERM when a driver refuses a change (tun
                    // refuses a queue length it cannot allocate), so the capability decides.
                    throw .settingRefused(link.name, setting: what, errno == .notPermitted && !privileged ? nil : errno, applied: applied)
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
