import Glibc
import SystemPackage
import TapSystem
import TapDataPath

/// What a settings command acts on.
public enum Target: Equatable, Sendable {
    /// A device by name: tapctl attaches a temporary queue, acts, and detaches.
    case name(InterfaceName)
    /// An inherited descriptor: the operation acts on that very queue.
    case descriptor(CInt)
}

extension TapControl {
    /// Opens `target` and runs `body` with its queue and the device that queue
    /// belongs to, identified after the queue was open (`heldLink`). `opened`
    /// runs as soon as the descriptor is ready and before `body`: the place to
    /// give up privileges, since an attached queue needs none.
    ///
    /// A temporary queue is never attached to a device in use: on a busy
    /// single-queue tap the kernel says EBUSY, and on a multiqueue tap an extra
    /// queue would take a share of the VM's packets.
    public func withTarget<T>(
        _ target: Target,
        opened: () throws(TapError) -> Void,
        _ body: (TunDescriptor, Link) throws(TapError) -> T
    ) throws(TapError) -> T {
        switch target {
        case .descriptor(let fd):
            // The device is looked up by name, so only where the name is the descriptor's device.
            let tun = TunDescriptor(fd, system: system)
            return try withDeviceNamespace(of: tun) { (_) throws(TapError) -> T in
                let link = try heldLink(tun)
                try opened()
                return try body(tun, link)
            }
        case .name(let name):
            let link = try tunLink(name.value)
            if link.mayBeHeld {
                throw .inUse(link.name, holders: Holders.scan(system: system)[link.name] ?? [])
            }
            let device = try attach(link)
            try opened()
            return try body(device.queue.descriptor, device.link)
        }
    }

    /// A new queue on an idle device, with the device's own flags so that
    /// attaching changes nothing. CAP_NET_ADMIN is not raised for it: in
    /// privileged-helper mode the kernel's owner and group check decides. The
    /// device the queue joined must be the one `link` describes (the same
    /// index), and a process that attached to a multiqueue device since `link`
    /// was read is found afterwards; either way the queue is closed again.
    func attach(_ link: TunLink) throws(TapError) -> HeldDevice {
        try policy?.device(link.name)
        let queue = try TapQueue(system: system)
        do {
            _ = try queue.descriptor.setInterface(link.name, flags: link.attachFlags)
        } catch {
            switch error {
            case .resourceBusy: throw .inUse(link.name, holders: Holders.scan(system: system)[link.name] ?? [])
            case .notPermitted: throw .notPermitted(link.name, owner: link.owner, group: link.group)
            case .invalidArgument: throw .identityChanged(link.name)
            default: throw .system(.ioctl(.TUNSETIFF), error)
            }
        }
        let now = try heldLink(queue.descriptor)
        guard now.index == link.index, let tun = now.tun else { throw .identityChanged(link.name) }
        if tun.multiQueue, tun.queues + tun.disabledQueues > 1 {
            throw .inUse(link.name, holders: Holders.scan(excludingSelf: true, system: system)[link.name] ?? [])
        }
        return HeldDevice(queue: queue, link: now)
    }

    /// An inherited descriptor, for what acts through the descriptor itself
    /// (offloads, header size, send buffer): the device behind it, identified
    /// from the descriptor (in helper mode a device in another namespace is
    /// refused), in the device's namespace when it is another one that the
    /// caller can enter. `opened` runs before `body`, once the identity is known.
    public func withDescriptor<T>(_ fd: CInt, opened: () throws(TapError) -> Void,
                                  _ body: (TunDescriptor, DescriptorDevice) throws(TapError) -> T) throws(TapError) -> T {
        let tun = TunDescriptor(fd, system: system)
        // Where the namespace cannot be entered, through the descriptor alone, without names.
        return try inDeviceNamespace(of: tun, orAsItIs: true) { (device) throws(TapError) -> T in
            try opened()
            return try body(tun, device)
        }
    }

    /// Whether this caller may attach a queue to `tun`: the kernel's owner and
    /// group check, which CAP_NET_ADMIN skips outside helper mode.
    func mayAttach(_ tun: TunLink) throws(TapError) {
        // In helper mode the attach is made without the capability, so the kernel's check applies as it does here.
        guard policy != nil || !system.privileges.isEffective(.netAdmin) else { return }
        let ids = system.ids()
        var groups = [gid_t](repeating: 0, count: Int(max(system.getgroups(UnsafeMutableBufferPointer(start: nil, count: 0)), 0)))
        let count = groups.withUnsafeMutableBufferPointer { system.getgroups($0) }
        let uid = policy?.uid ?? ids.euid
        let inGroup = { (gid: UInt32) in policy?.groups.contains(gid) ?? (gid == ids.egid || groups.prefix(Int(max(count, 0))).contains(gid)) }
        let mine = (tun.owner.map { $0 == uid } ?? true) && (tun.group.map(inGroup) ?? true)
        guard mine else { throw .notPermitted(tun.name, owner: tun.owner, group: tun.group) }
    }

    /// The device a queue tapctl holds belongs to, identified after the attach:
    /// the name the queue reports (TUNGETIFF), the device of that name over
    /// rtnetlink (its index, owner, settings), and the queue asked again.
    /// While tapctl holds the queue the device cannot go away, and renaming
    /// needs CAP_NET_ADMIN, so the same name both times means the same device.
    /// Changes then go to that index, never to a name looked up before.
    func heldLink(_ tun: TunDescriptor) throws(TapError) -> Link {
        let name = try tun.device().name
        var socket = try RouteSocket(system: system)
        guard let link = try socket.link(named: name), link.tun != nil,
              try tun.device().name.utf8.elementsEqual(name.utf8),
              link.name.utf8.elementsEqual(name.utf8) else { throw .identityChanged(name) }
        return link
    }
}
