import Glibc
import CTapShim

/// What `TapControl.create` makes.
public struct CreateRequest: Sendable {
    /// The device's owner (TUNSETOWNER): when there is one, attaching without CAP_NET_ADMIN needs its uid.
    public enum Owner: Equatable, Sendable {
        /// The caller's effective uid: no other unprivileged user can attach.
        case caller
        /// No owner: with no group either, any user who can open /dev/net/tun can attach.
        case none
        /// This uid.
        case user(uid_t)
    }

    /// The name, or a template such as "tap%d" that the kernel numbers.
    public var name: InterfaceName
    /// IFF_TAP (the default) or IFF_TUN.
    public var mode: TunMode = .tap
    /// IFF_MULTI_QUEUE: the device can take more than one queue.
    public var multiQueue = false
    /// IFF_VNET_HDR: queues carry a virtio-net header before each frame.
    public var vnetHeader = false
    /// Keep the 4-byte packet information header before each frame (no IFF_NO_PI).
    public var packetInfo = false
    /// TUNSETOWNER: the caller unless said otherwise.
    public var owner: Owner = .caller
    /// TUNSETGROUP; nil for none. When set, unprivileged attaching also needs membership of it.
    public var group: gid_t?
    /// Accept an existing device of the same mode, multiqueue flag, and the owner
    /// and group when they were named, instead of failing with `alreadyExists`.
    public var existOK = false
    /// MTU, address, bridge, queue length, up: applied before the device is
    /// made persistent. Not applied to an existing device under `existOK`.
    public var link = LinkSettings()

    /// A single-queue tap without vnet header or packet information, owned by the caller.
    public init(name: InterfaceName) {
        self.name = name
    }

    var flags: TunFlags {
        var flags: TunFlags = [mode.flag, .tunExcl]
        if !packetInfo { flags.insert(.noPI) }
        if vnetHeader { flags.insert(.vnetHdr) }
        if multiQueue { flags.insert(.multiQueue) }
        return flags
    }
}

extension TapControl {
    /// Creates a persistent device and returns the name the kernel gave it, and
    /// whether this call made it (false only under `existOK`).
    ///
    /// IFF_TUN_EXCL makes the kernel refuse an existing name atomically instead of
    /// attaching to it. Owner and group are set before TUNSETPERSIST, so a failure
    /// or a kill at any point leaves either nothing or a complete device: until
    /// persist, closing the descriptor removes the device.
    public func create(_ request: CreateRequest) throws(TapError) -> (name: String, created: Bool) {
        do {
            return (try make(configured: request, persistent: true).name, true)
        } catch .alreadyExists(let name) where request.existOK {
            try checkExisting(request)
            return (name, false)
        }
    }

    /// Makes a device as `make` does, its link settings checked first and
    /// applied before it is made persistent: until then, on any failure,
    /// closing the queue removes the device, so nothing stays changed. How
    /// `create`, and `exec` and `send` with `--create`, make theirs.
    func make(configured request: CreateRequest, persistent: Bool) throws(TapError) -> OpenDevice {
        let settings = request.link.isEmpty ? request.link : try validate(request.link, device: nil, mode: request.mode)
        let device = try make(request, persistent: persistent && settings.isEmpty)
        guard !settings.isEmpty else { return device }
        do {
            _ = try apply(settings, to: try self.device(named: device.name))
        } catch .settingRefused(let name, let setting, let errno, _) {
            throw .settingRefused(name, setting: setting, errno, applied: [])
        }
        do {
            if persistent { try device.queue.descriptor.setPersistent(true) }
        } catch {
            throw .system("TUNSETPERSIST", error)
        }
        return device
    }

    /// Makes a device, with its owner and group, and returns its first queue,
    /// still attached. A device that is not `persistent` lives as long as its
    /// queues. In privileged-helper mode the owner must be the caller, and the
    /// access list is consulted for the name the kernel gave (a template's
    /// result, not the template) before the device is made persistent or any
    /// queue of it is handed out: a denied device goes with its queue.
    func make(_ request: CreateRequest, persistent: Bool) throws(TapError) -> OpenDevice {
        try policy?.checkOwnership(request)
        if !request.name.isTemplate { try policy?.device(request.name.value) }
        let queue = try TapQueue(system: system)
        let tun = queue.descriptor
        // CAP_NET_ADMIN for creating only: with IFF_TUN_EXCL an existing name
        // is EBUSY, never an attach that would skip the owner check.
        let name = try system.withNetAdmin { () throws(TapError) -> String in
            do throws(Errno) {
                return try tun.setInterface(request.name.value, flags: request.flags).name
            } catch {
                switch error {
                case .EBUSY: throw .alreadyExists(request.name.value)
                case .EPERM: throw .needsNetAdmin(request.name.value)
                default: throw .system("TUNSETIFF", error)
                }
            }
        }
        let owner: uid_t? = switch request.owner {
        case .caller: geteuid()
        case .none: nil
        case .user(let uid): uid
        }
        do {
            if let owner { try tun.setOwner(owner) }
        } catch {
            throw error == .EINVAL ? .unmappedID("uid \(owner ?? 0)") : .system("TUNSETOWNER", error)
        }
        do {
            if let group = request.group { try tun.setGroup(group) }
        } catch {
            throw error == .EINVAL ? .unmappedID("gid \(request.group ?? 0)") : .system("TUNSETGROUP", error)
        }
        if request.multiQueue { try refuseIntruders(name) }
        if let policy {
            try policy.device(name)
            try checkDeviceCount(policy, name: name)
        }
        do {
            if persistent { try tun.setPersistent(true) }
        } catch {
            throw .system("TUNSETPERSIST", error)
        }
        return OpenDevice(queue: queue, name: name)
    }

    /// Until TUNSETOWNER a new device has no owner, so any user who can open
    /// /dev/net/tun may attach a queue to it; a single-queue device is safe
    /// (ours is its one queue), but a multiqueue one may have gained a
    /// stranger's queue, which would stay once the owner is set. Such a device
    /// is deleted (RTM_DELLINK detaches every queue) rather than handed over.
    private func refuseIntruders(_ name: String) throws(TapError) {
        // Ours, and held: nobody without CAP_NET_ADMIN can remove or rename it.
        let link = try device(named: name)
        guard let tun = link.tun, tun.queues + tun.disabledQueues > 1 else { return }
        let holders = Holders.scan(excludingSelf: true)[link.name] ?? []
        _ = try system.withNetAdmin { () throws(TapError) in
            var socket = try RouteSocket(system: system)  // opened with the capability: the kernel checks the opener too
            return try socket.change([LinkRequest(type: UInt16(RTM_DELLINK), index: link.index)])
        }
        throw .intruder(link.name, holders: holders)
    }

    /// Privileged-helper mode: the devices one user owns in this namespace,
    /// the new one included, are bounded by the access list's limit.
    private func checkDeviceCount(_ policy: HelperPolicy, name: String) throws(TapError) {
        var socket = try RouteSocket(system: system)
        let owned = try socket.tunLinks().filter { $0.owner == policy.uid }.count
        guard owned <= policy.limits.devices else {
            throw .accessDenied(name, "you own \(owned - 1) devices already, and \(AccessList.path) allows \(policy.limits.devices)")
        }
    }

    /// Under `existOK`: the existing device must be what was asked for.
    private func checkExisting(_ request: CreateRequest) throws(TapError) {
        let link: TunLink
        do {
            link = try tunLink(request.name.value)
        } catch .notTunTap(let name, let kind) {
            throw .existsDifferently(name, differences: [kind.map { "it is a \($0) device, not tun/tap" } ?? "it is not a tun/tap device"])
        }
        var differences: [String] = []
        if link.mode != request.mode {
            differences.append("it is a \(link.mode.rawValue) device, not \(request.mode.rawValue)")
        }
        if link.multiQueue != request.multiQueue {
            differences.append(link.multiQueue ? "it is multiqueue" : "it is not multiqueue")
        }
        if case .user(let uid) = request.owner, link.owner != uid {
            differences.append("its owner is \(link.owner.map { "uid \($0)" } ?? "unset"), not uid \(uid)")
        }
        if let gid = request.group, link.group != gid {
            differences.append("its group is \(link.group.map { "gid \($0)" } ?? "unset"), not gid \(gid)")
        }
        if !differences.isEmpty { throw .existsDifferently(request.name.value, differences: differences) }
    }
}
