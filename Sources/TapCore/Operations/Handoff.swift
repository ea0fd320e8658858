import Glibc
import SystemPackage
import TapSystem
import TapDataPath

/// What `exec` and `send` open and configure before handing descriptors over.
public struct HandoffRequest: Sendable {
    /// The device whose queues to open; under `create`, the device made is named by `create.name`.
    public var name: InterfaceName
    /// Queues to open, 1 to 256; more than one needs a multiqueue device (so made under `create`).
    public var queues = 1
    /// One /dev/vhost-net descriptor per queue.
    public var vhostNet = false
    /// Open the queues with IFF_VNET_HDR, as a VMM wants them.
    public var vnetHeader = true
    /// TUNSETOFFLOAD once the queues are open, as `TapControl.setOffloads` does; nil leaves them.
    public var offloads: Offloads?
    /// TUNSETVNETHDRSZ once the queues are open (10, 12, 20 or 24); nil leaves it.
    public var vnetHeaderSize: Int?
    /// TUNSETSNDBUF once the queues are open, in bytes; nil leaves it.
    public var sendBuffer: Int?
    /// Make the device (with IFF_TUN_EXCL, its link settings applied before any
    /// queue is handed out) rather than open an existing one.
    public var create: CreateRequest?
    /// With `create`: keep the device after the queues close.
    public var persist = false

    /// One queue of the existing device `name`, with IFF_VNET_HDR, its settings left alone.
    public init(name: InterfaceName) {
        self.name = name
    }
}

/// Open queues (and vhost-net descriptors) of one device, ready to hand over.
/// Closed when it goes out of scope, which also removes a device that this
/// handoff created without persist.
public struct Handoff: ~Copyable {
    /// The device's name as the kernel reports it (a template's result under `create`).
    public let name: String
    /// The queues' descriptors, first queue first; `takeQueue` and `place` change them.
    public private(set) var tapFDs: [CInt]
    /// The /dev/vhost-net descriptors, one per queue; empty without `vhostNet`.
    public private(set) var vhostFDs: [CInt]
    /// This call made the device persistent; undone by `rollBack`.
    let createdPersistent: Bool
    let system: SystemCalls
    /// The header size of the queues taken so far, which later ones share.
    private var sharedHeader: SharedHeaderSize?

    init(name: String, tapFDs: [CInt], vhostFDs: [CInt], createdPersistent: Bool, system: SystemCalls) {
        self.name = name
        self.tapFDs = tapFDs
        self.vhostFDs = vhostFDs
        self.createdPersistent = createdPersistent
        self.system = system
    }

    deinit {
        for fd in tapFDs + vhostFDs { _ = system.close(fd) }
    }

    /// Takes the first queue out, to be closed by the `TapQueue` rather than
    /// by the handoff; nil when none is left.
    public mutating func takeQueue() throws(TapError) -> TapQueue? {
        guard !tapFDs.isEmpty else { return nil }
        let fd = tapFDs.removeFirst()
        do {
            // The queues of one handoff are one device's: they share its header size.
            let queue = try TapQueue(adopting: fd, sharing: sharedHeader, system: system)
            sharedHeader = queue.shared
            return queue
        } catch {
            _ = system.close(fd)
            throw error
        }
    }

    /// Moves the descriptors to consecutive numbers from `start`, queues first,
    /// and clears close-on-exec on them alone. A number in that range that is
    /// already open and not ours (inherited) is an error, never overwritten.
    public mutating func place(from start: CInt) throws(TapError) {
        let ours = tapFDs + vhostFDs
        let targets = (0..<CInt(ours.count)).map { start + $0 }
        for target in targets where !ours.contains(target) && system.fcntl(target, F_GETFD, 0) >= 0 {
            throw .descriptorTaken(fd: target)
        }
        // Park every descriptor above the range first, so no dup2 lands on one still needed.
        var parked: [CInt] = []
        for fd in ours {
            let high = system.fcntl(fd, F_DUPFD_CLOEXEC, start + CInt(ours.count))
            guard high >= 0 else {
                let error = Errno.current
                parked.forEach { _ = system.close($0) }
                throw .system(.moveDescriptor(fd), error)
            }
            parked.append(high)
        }
        for fd in ours { _ = system.close(fd) }
        tapFDs = Array(targets.prefix(tapFDs.count))
        vhostFDs = Array(targets.suffix(vhostFDs.count))
        defer { parked.forEach { _ = system.close($0) } }
        for (high, target) in zip(parked, targets) {
            // dup2 leaves close-on-exec clear on the new descriptor.
            do {
                _ = try retryingEINTR { system.dup2(high, target) }
            } catch {
                throw .system(.placeDescriptor(target), error)
            }
        }
    }

    /// After a failed handoff: a device this call made persistent is made
    /// transient again, so closing the queues removes it. Needs no privilege.
    public func rollBack() {
        guard createdPersistent, let first = tapFDs.first else { return }
        try? TunDescriptor(first, system: system).setPersistent(false)
    }
}

extension TapControl {
    /// Opens `request.queues` queues of a device, creating it if asked, and
    /// applies the settings. Refuses a device in use: the queues of a VM are its own.
    public func open(_ request: HandoffRequest) throws(TapError) -> Handoff {
        var tapFDs: [CInt] = []
        var vhostFDs: [CInt] = []
        var createdPersistent = false
        var success = false
        defer {
            if !success {
                if createdPersistent, let first = tapFDs.first {
                    try? TunDescriptor(first, system: system).setPersistent(false)
                }
                for fd in tapFDs + vhostFDs { _ = system.close(fd) }
            }
        }
        try SettingLimits.checkQueues(request.queues)
        if let size = request.vnetHeaderSize { try SettingLimits.checkVnetHeaderSize(size) }
        if let bytes = request.sendBuffer { try SettingLimits.checkSendBuffer(bytes) }
        try policy?.checkQueues(request.queues, device: request.name.value)
        let name: String
        var flags: TunFlags
        if var create = request.create {
            if request.queues > 1 { create.multiQueue = true }
            create.vnetHeader = request.vnetHeader
            let device = try make(configured: create, persistent: request.persist)
            createdPersistent = request.persist
            name = device.name
            flags = create.flags.subtracting(.tunExcl)
            tapFDs.append(device.queue.release().rawValue)
        } else {
            let link = try tunLink(request.name.value)
            if request.queues > 1 && !link.multiQueue { throw .notMultiQueue(link.name, queues: request.queues) }
            if link.mayBeHeld {
                throw .inUse(link.name, holders: Holders.scan(system: system)[link.name] ?? [])
            }
            name = link.name
            flags = link.attachFlags
            if request.vnetHeader { flags.insert(.vnetHdr) } else { flags.remove(.vnetHdr) }
            var first = link
            first.vnetHeader = request.vnetHeader
            let device = try attach(first)
            tapFDs.append(device.queue.release().rawValue)
        }
        while tapFDs.count < request.queues {
            let queue = try TapQueue(system: system)
            do {
                _ = try queue.descriptor.setInterface(name, flags: flags)
            } catch {
                throw error == .argListTooLong ? .tooManyQueues(name, queues: request.queues) : .system(.attachQueue(tapFDs.count + 1), error)
            }
            tapFDs.append(queue.release().rawValue)
        }
        if request.vhostNet {
            for _ in 0..<request.queues {
                do {
                    vhostFDs.append(try retryingEINTR { system.open("/dev/vhost-net", O_RDWR | O_CLOEXEC) })
                } catch {
                    throw .vhostUnavailable(error)
                }
            }
        }
        let tun = TunDescriptor(tapFDs[0], system: system)
        if let offloads = request.offloads {
            // Attached by name in this namespace a moment ago: the name is this device.
            _ = try setOffloads(offloads, on: tun, device: DescriptorDevice(name: name, flags: flags, namespace: .current))
        }
        if let size = request.vnetHeaderSize { _ = try setVnetHeaderSize(size, on: tun) }
        if let bytes = request.sendBuffer { _ = try setSendBuffer(bytes, on: tun) }
        success = true
        return Handoff(name: name, tapFDs: tapFDs, vhostFDs: vhostFDs, createdPersistent: createdPersistent, system: system)
    }
}
