/// What a settings command acts on.
public enum Target: Equatable, Sendable {
    /// A device by name: tapctl attaches a temporary queue, acts, and detaches.
    case name(InterfaceName)
    /// An inherited descriptor: the operation acts on that very queue.
    case descriptor(CInt)
}

extension TapControl {
    /// Opens `target` and runs `body` with its queue and the device as it was
    /// before tapctl opened it. `opened`
    /// runs as soon as the descriptor is ready and before `body`: the place to
    /// give up privileges, since an attached queue needs none.
    ///
    /// A temporary queue is never attached to a device in use: on a busy
    /// single-queue tap the kernel says EBUSY, and on a multiqueue tap an extra
    /// queue would take a share of the VM's packets.
    public func withTarget<T>(
        _ target: Target,
        opened: () throws(TapError) -> Void,
        _ body: (TunDescriptor, TunLink) throws(TapError) -> T
    ) throws(TapError) -> T {
        switch target {
        case .descriptor(let fd):
            let link = try tunLink(try interface(ofDescriptor: fd).name)
            try opened()
            return try body(TunDescriptor(fd, system: system), link)
        case .name(let name):
            let link = try tunLink(name.value)
            if link.queues + link.disabledQueues > 0 || !link.persistent {
                throw .inUse(link.name, holders: Holders.scan()[link.name] ?? [])
            }
            let queue = try attach(link)
            try opened()
            return try body(queue.descriptor, link)
        }
    }

    /// A new queue on an idle device, with the device's own flags so that
    /// attaching changes nothing. A process that attached to a multiqueue device
    /// since `link` was read is found afterwards, and the queue closed again.
    func attach(_ link: TunLink) throws(TapError) -> TunQueue {
        let queue = try TunQueue(system: system)
        do {
            _ = try queue.descriptor.setInterface(link.name, flags: link.attachFlags)
        } catch {
            switch error {
            case .EBUSY: throw .inUse(link.name, holders: Holders.scan()[link.name] ?? [])
            case .EPERM: throw .notPermitted(link.name, owner: link.owner, group: link.group)
            case .EINVAL: throw .system("attaching to \(link.name) (it changed since it was read)", error)
            default: throw .system("TUNSETIFF", error)
            }
        }
        if link.multiQueue, let now = try? tunLink(link.name), now.queues + now.disabledQueues > 1 {
            throw .inUse(link.name, holders: Holders.scan()[link.name] ?? [])
        }
        return queue
    }
}
