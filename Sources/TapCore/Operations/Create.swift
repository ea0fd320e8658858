import Glibc
import CTapShim
import SystemPackage
import TapSystem
import TapDataPath

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
    /// Make the device in a private network namespace, owner and group set,
    /// and only then move it in, so that no other user can attach while it has
    /// no owner (where CAP_SYS_ADMIN allows). False where no other user can
    /// reach the namespace anyway (a CNI sandbox before its container starts):
    /// the move costs the kernel a wait of its own, most of a create's time.
    public var hideWhileMaking = true

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
    /// Creates a persistent device and returns the name the kernel gave it,
    /// whether this call made it (false only under `existOK`), and, for an
    /// existing device under `existOK`, the link settings it changed ("mtu
    /// 9000 -> 1500"): the ones `request` names that differ, applied over
    /// rtnetlink, which attaches no queue and so disturbs no holder.
    ///
    /// IFF_TUN_EXCL makes the kernel refuse an existing name atomically instead of
    /// attaching to it. Owner and group are set before TUNSETPERSIST, so a failure
    /// or a kill at any point leaves either nothing or a complete device: until
    /// persist, closing the descriptor removes the device.
    public func create(_ request: CreateRequest) throws(TapError) -> (name: String, created: Bool, changed: [SettingChange]) {
        do {
            return (try make(configured: request, persistent: true).name, true, [])
        } catch .alreadyExists(let name) where request.existOK {
            try checkExisting(request)
            return (name, false, try converge(existing: request))
        }
    }

    /// The link settings `request` names, made true of the existing device.
    private func converge(existing request: CreateRequest) throws(TapError) -> [SettingChange] {
        guard !request.link.isEmpty else { return [] }
        let current = try device(named: request.name.value)
        let wanted = try validate(request.link, device: current, mode: current.tun?.mode ?? .tap)
        var socket = try RouteSocket(system: system)
        let (settings, changes) = try linkChanges(wanted, current: current, links: try socket.links())
        guard !settings.isEmpty else { return [] }
        if policy != nil {
            // Helper mode changes a device only through a queue of it: an idle one the kernel lets the caller attach.
            _ = try set(settings, on: .name(request.name))
        } else {
            _ = try apply(settings, to: current)
        }
        return changes
    }

    /// The uid `owner` means: the caller is the real user the helper acts
    /// for in helper mode, the effective uid otherwise.
    func uid(of owner: CreateRequest.Owner) -> uid_t? {
        switch owner {
        case .caller: policy?.uid ?? system.ids().euid
        case .none: nil
        case .user(let uid): uid
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
            throw .system(.ioctl(.TUNSETPERSIST), error)
        }
        return device
    }

    /// Makes a device, with its owner and group, and returns its first queue,
    /// still attached. A device that is not `persistent` lives as long as its
    /// queues. In privileged-helper mode the owner must be the caller, and the
    /// access list is consulted for the name the kernel gave (a template's
    /// result, not the template) before the device is made persistent or any
    /// queue of it is handed out: a denied device goes with its queue.
    ///
    /// Until TUNSETOWNER a new multiqueue device has no owner, and any user
    /// who can open /dev/net/tun may attach a queue to it (a single-queue one
    /// takes no second queue while this call holds the first). So, where
    /// CAP_SYS_ADMIN allows (root, a
    /// setuid install), the device is made in a private network namespace that
    /// no other user can enter, given its owner and group there, and only then
    /// moved here (RTM_NEWLINK with IFLA_NET_NS_FD): here it never has no owner
    /// (unless `hideWhileMaking` is off, for a namespace no other user can reach).
    /// Elsewhere (a cap_net_admin install) it is made here. Either way it is
    /// then checked in one RTM_GETLINK: its queues, owner, group and flags
    /// exactly as made, or it is deleted rather than handed over.
    func make(_ request: CreateRequest, persistent: Bool) throws(TapError) -> OpenDevice {
        let owner = uid(of: request.owner)
        let device: OpenDevice
        // A single-queue device is the creator's alone while its queue is
        // attached (the kernel answers any other TUNSETIFF on it with EBUSY),
        // so only a multiqueue one has a window to hide, and only it pays for
        // the move.
        if request.hideWhileMaking && request.multiQueue && gate.canEnterNamespaces() {
            // Opened here, before the private namespace: a socket's namespace is fixed when it is opened.
            var here = try RouteSocket(system: system)
            let moved = try withPrivateNamespace { (home) throws(TapError) -> OpenDevice in
                let device = try makeHere(request, owner: owner)
                return OpenDevice(queue: try move(device.queue, home: home, here: &here, template: request.name), name: device.name)
            }
            switch consume moved {
            case .some(let made): device = made
            case .none: device = try makeHere(request, owner: owner)
            }
        } else {
            device = try makeHere(request, owner: owner)
        }
        // The name the kernel gave, here: a template renamed on the move when its first choice was taken.
        let name: String
        do {
            name = try device.queue.descriptor.interface().name
        } catch {
            throw .system(.ioctl(.TUNGETIFF), error)
        }
        try verify(name, request, owner: owner)
        if let policy {
            try policy.device(name)
            try record(name, for: policy.uid)
        }
        do {
            if persistent { try device.queue.descriptor.setPersistent(true) }
        } catch {
            throw .system(.ioctl(.TUNSETPERSIST), error)
        }
        return OpenDevice(queue: device.queue, name: name)
    }

    /// TUNSETIFF with IFF_TUN_EXCL in the calling thread's namespace, then
    /// TUNSETOWNER and TUNSETGROUP.
    func makeHere(_ request: CreateRequest, owner: uid_t?) throws(TapError) -> OpenDevice {
        let queue = try TapQueue(system: system)
        let tun = queue.descriptor
        // CAP_NET_ADMIN for creating only: with IFF_TUN_EXCL an existing name
        // is EBUSY, never an attach that would skip the owner check.
        let name = try gate.withNetAdmin(PrivilegedChange(action: .create(request, owner: owner))) { () throws(TapError) -> String in
            do throws(Errno) {
                return try tun.setInterface(request.name.value, flags: request.flags).name
            } catch {
                switch error {
                case .resourceBusy: throw .alreadyExists(request.name.value)
                case .notPermitted: throw .needsNetAdmin(request.name.value)
                default: throw .system(.ioctl(.TUNSETIFF), error)
                }
            }
        }
        do {
            if let owner { try tun.setOwner(owner) }
        } catch {
            throw error == .invalidArgument ? .unmappedID(uid: owner ?? 0, gid: nil) : .system(.ioctl(.TUNSETOWNER), error)
        }
        do {
            if let group = request.group { try tun.setGroup(group) }
        } catch {
            throw error == .invalidArgument ? .unmappedID(uid: nil, gid: request.group ?? 0) : .system(.ioctl(.TUNSETGROUP), error)
        }
        return OpenDevice(queue: queue, name: name)
    }

    /// Runs `body` in a new network namespace of the calling thread's own,
    /// which only CAP_SYS_ADMIN could enter, handing it the caller's namespace
    /// to come back to, and comes back on every path. Nil when the namespace
    /// cannot be made (no CAP_SYS_ADMIN): the caller then works here.
    func withPrivateNamespace<T: ~Copyable>(_ body: (CInt) throws(TapError) -> T) throws(TapError) -> T? {
        guard gate.canEnterNamespaces() else { return nil }
        let home = try currentNetworkNamespace()
        defer { _ = system.close(home) }
        let change = PrivilegedChange(action: .privateNamespace)
        let unshared = try gate.withSysAdmin(change) { () throws(TapError) -> Bool in
            guard system.unshareNetworkNamespace() == 0 else {
                let error = Errno.current
                if error == .notPermitted { return false }
                throw .system(.unshare, error)
            }
            return true
        }
        guard unshared else { return nil }
        func goHome() throws(TapError) {
            try gate.withSysAdmin(change) { () throws(TapError) in
                guard system.setNetworkNamespace(home) == 0 else { throw .system(.returnNamespace, .current) }
            }
        }
        let result: T
        do {
            result = try body(home)
        } catch {
            try goHome()
            throw error
        }
        try goHome()
        return result
    }

    /// Moves the device of `queue`, made in the private namespace, to `home`,
    /// whose devices `here` lists. A fixed name taken there is `alreadyExists`,
    /// and the device goes with its queue. A template's device is renamed in
    /// the private namespace to the first name the template gives that is free
    /// there, and moved again, as often as another device takes that name
    /// first. (IFLA_IFNAME on the move itself would rename the device even
    /// when its name is free: the kernel renames after moving.)
    private func move(_ queue: consuming TapQueue, home: CInt, here: inout RouteSocket,
                      template name: InterfaceName) throws(TapError) -> TapQueue {
        for _ in 0..<16 {
            let privateName: String
            do {
                privateName = try queue.descriptor.interface().name
            } catch {
                throw .system(.ioctl(.TUNGETIFF), error)
            }
            let errno = try gate.withNetAdmin(PrivilegedChange(action: .move)) { () throws(TapError) -> Errno? in
                var socket = try RouteSocket(system: system)
                guard let link = try socket.link(named: privateName) else { throw .identityChanged(privateName) }
                let attributes = [Netlink.Attribute(type: UInt16(IFLA_NET_NS_FD), uint32: UInt32(bitPattern: home))]
                return try socket.change([LinkRequest(type: UInt16(RTM_NEWLINK), index: link.index, attributes: attributes)])[0]
            }
            switch errno {
            case nil: return queue
            case .fileExists? where name.isTemplate:
                let taken = Set(try here.links().map { NameBytes($0.name) })
                let parts = name.value.split(separator: "%d", maxSplits: 1, omittingEmptySubsequences: false)
                guard let free = (0..<100_000).lazy.map({ String(parts[0]) + String($0) + String(parts[1]) })
                    .first(where: { !taken.contains(NameBytes($0)) }) else { throw .alreadyExists(name.value) }
                let renamed = try gate.withNetAdmin(PrivilegedChange(action: .move)) { () throws(TapError) -> Errno? in
                    var socket = try RouteSocket(system: system)
                    guard let link = try socket.link(named: privateName) else { throw .identityChanged(privateName) }
                    return try socket.change([LinkRequest(type: UInt16(RTM_NEWLINK), index: link.index,
                                                          attributes: [Netlink.Attribute(type: UInt16(IFLA_IFNAME), string: free)])])[0]
                }
                if let renamed { throw .system(.link(.rename(free)), renamed) }
            case .fileExists?: throw .alreadyExists(name.value)
            case let other?: throw .system(.link(.move), other)
            }
        }
        throw .alreadyExists(name.value)
    }

    /// The new device as the kernel has it now, in one RTM_GETLINK: one queue
    /// (ours), the owner, group and flags it was made with. Anything else means
    /// someone reached it before its owner was set: it is deleted (RTM_DELLINK
    /// detaches every queue) rather than handed over.
    private func verify(_ name: String, _ request: CreateRequest, owner: uid_t?) throws(TapError) {
        // Ours, and held: nobody without CAP_NET_ADMIN can remove or rename it.
        let link = try device(named: name)
        guard let tun = link.tun else { throw .identityChanged(name) }
        let owned = tun.owner == owner.map { UInt32($0) } && tun.group == request.group.map { UInt32($0) }
        let flags = tun.mode == request.mode && tun.multiQueue == request.multiQueue && tun.vnetHeader == request.vnetHeader
            && tun.packetInfo == request.packetInfo
        let asMade = owned && flags && (!tun.multiQueue || tun.queues + tun.disabledQueues == 1)
        guard !asMade else { return }
        let holders = Holders.scan(excludingSelf: true, system: system)[link.name] ?? []
        _ = try gate.withNetAdmin(PrivilegedChange(action: .discard(index: link.index))) { () throws(TapError) in
            var socket = try RouteSocket(system: system)  // opened with the capability: the kernel checks the opener too
            return try socket.change([LinkRequest(type: UInt16(RTM_DELLINK), index: link.index)])
        }
        throw .intruder(link.name, holders: holders)
    }

    /// Helper mode: the caller's uid on what it made, in the alias, which
    /// only CAP_NET_ADMIN can change; the access list's device limit counts
    /// these, not owners, since an owner can hand a device on.
    private func record(_ name: String, for uid: uid_t) throws(TapError) {
        let link = try device(named: name)
        let alias = Gate.maker(uid)
        let errno = try gate.withNetAdmin(PrivilegedChange(action: .record(name: name, index: link.index, alias: alias))) { () throws(TapError) in
            var socket = try RouteSocket(system: system)
            return try socket.change([LinkRequest(type: UInt16(RTM_NEWLINK), index: link.index,
                                                  attributes: [Netlink.Attribute(type: UInt16(IFLA_IFALIAS), string: alias)])])[0]
        }
        if let errno { throw .system(.link(.recordMaker), errno) }
    }

    /// Under `existOK`: the existing device must be what was asked for.
    private func checkExisting(_ request: CreateRequest) throws(TapError) {
        let link: TunLink
        do {
            link = try tunLink(request.name.value)
        } catch .notTunTap(let name, let kind) {
            throw .existsDifferently(name, differences: [SettingChange("kind", .text(kind), .text("tun/tap"))])
        }
        var differences: [SettingChange] = []
        if link.mode != request.mode {
            differences.append(SettingChange("mode", .text(link.mode.rawValue), .text(request.mode.rawValue)))
        }
        if link.multiQueue != request.multiQueue {
            differences.append(SettingChange("multi_queue", .flag(link.multiQueue), .flag(request.multiQueue)))
        }
        if case .user(let uid) = request.owner, link.owner != uid {
            differences.append(SettingChange("owner", .user(link.owner), .user(uid)))
        }
        if let gid = request.group, link.group != gid {
            differences.append(SettingChange("group", .group(link.group), .group(gid)))
        }
        if !differences.isEmpty { throw .existsDifferently(request.name.value, differences: differences) }
    }
}
