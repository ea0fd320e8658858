import Glibc
import SystemPackage
import TapSystem
import TapDataPath

/// What this kernel's TUN driver supports, found by trying it on a throwaway device.
public struct KernelProbe: Equatable, Sendable {
    /// The running kernel (uname -r), known without opening anything.
    public var release: String
    /// The permission bits of /dev/net/tun (0o666 on Debian), nil when it is missing.
    public var tunMode: UInt32?
    /// TUNGETFEATURES: the TUNSETIFF flags the driver knows; nil when
    /// /dev/net/tun cannot be opened.
    public var features: TunFlags?
    /// Each of `Offloads.probeGroups`, with its prerequisites, accepted or not.
    public var offloads: [Offloads: Bool]?
    /// The virtio-net header sizes 10, 12, 20 and 24, accepted or not.
    public var vnetHeaderSizes: [Int: Bool]?
    /// TUNSETVNETLE accepted: little-endian headers for legacy (pre-1.0) guests.
    public var vnetLittleEndian: Bool?
    /// Needs CONFIG_TUN_VNET_CROSS_LE.
    public var vnetBigEndian: Bool?
    /// Queues one multiqueue device may have (MAX_TAP_QUEUES).
    public var maxQueues: Int?
    /// Why the fields that are nil were not tested: `needsNetAdmin` to make
    /// a throwaway device, or `tunUnavailable`.
    public var untested: TapError?

    /// The sizes `probeKernel` tries with TUNSETVNETHDRSZ: the keys of `vnetHeaderSizes`.
    public static let vnetHeaderSizesTried = [10, 12, 20, 24]

    /// What can be known without opening /dev/net/tun.
    init(system: SystemCalls) {
        release = system.kernelRelease()
        var status = stat()
        tunMode = system.stat("/dev/net/tun", &status, true) == 0 ? UInt32(status.st_mode & 0o7777) : nil
    }

    /// The offloads accepted, as one set.
    public var acceptedOffloads: Offloads? {
        offloads.map { $0.filter(\.value).reduce(into: Offloads()) { $0.formUnion($1.key) } }
    }
}

/// A device's state, read without disturbing whoever uses it, plus what the
/// kernel supports for it.
public struct DeviceProbe: Sendable {
    /// The device, with the processes holding it other than this one.
    public var device: TapControl.Device
    /// `device.link`: the device as rtnetlink describes it.
    public var link: TunLink { device.link }
    /// The flags of the queue probed (an inherited one, or a temporary one);
    /// nil for a device in use, probed without a queue.
    public var queueFlags: TunFlags?
    /// The queue probed is an inherited descriptor, whose flags a VMM is stuck with;
    /// a VMM attaching to the device by name chooses its own.
    public var inherited: Bool
    /// The offloads in force, as ethtool reads them: no queue is needed. While
    /// a VM runs they are what its guest negotiated (QEMU resets them when it
    /// starts and sets the guest's).
    public var features: DeviceFeatures
    /// Device-wide, but read through a queue: nil without one.
    public var vnetHeaderSize: Int?
    /// The queue's send buffer, for an inherited descriptor. A device has none of
    /// its own: TUNSETSNDBUF sets the queues open at the time, and a queue
    /// attached later starts unlimited, so a temporary queue's says nothing.
    public var sendBuffer: Int?
    /// What the TUN driver supports (`TapControl.probeKernel`).
    public var kernel: KernelProbe
    /// Why the values that need a queue are nil: the device is in use, and
    /// tapctl never adds a queue to a device in use.
    public var withoutQueue: String?

    /// A process holds the device: its offloads are that program's (a VM's guest's).
    public var inUse: Bool { withoutQueue != nil || !device.holders.isEmpty }

    /// The virtio-net feature bits a VMM can offer its guest on this tap, as QEMU
    /// derives them from its tap probes (virtio spec names, without VIRTIO_NET_F_).
    public var virtioFeatures: [String] {
        let vnetHeader = inherited ? queueFlags?.contains(.vnetHdr) == true : kernel.features?.contains(.vnetHdr) == true
        guard vnetHeader else { return link.multiQueue ? ["MQ"] : [] }
        var out = ["CSUM", "HOST_TSO4", "HOST_TSO6", "HOST_ECN"]
        if let accepted = kernel.acceptedOffloads {
            let guest: [(Offloads, String)] = [
                (.csum, "GUEST_CSUM"), (.tso4, "GUEST_TSO4"), (.tso6, "GUEST_TSO6"), (.ecn, "GUEST_ECN"),
                (.ufo, "GUEST_UFO"), (.uso4, "GUEST_USO4"), (.uso6, "GUEST_USO6"),
            ]
            out += guest.filter { accepted.contains($0.0) }.map(\.1)
            if accepted.contains(.ufo) { out.append("HOST_UFO") }
            if accepted.contains(.uso4) { out.append("HOST_USO") }
            if accepted.contains(.udpTunnel) { out += ["GUEST_UDP_TUNNEL_GSO", "HOST_UDP_TUNNEL_GSO"] }
            if accepted.contains(.udpTunnelCsum) { out += ["GUEST_UDP_TUNNEL_GSO_CSUM", "HOST_UDP_TUNNEL_GSO_CSUM"] }
        }
        if kernel.vnetHeaderSizes?[12] == true || (vnetHeaderSize ?? 0) >= 12 { out.append("MRG_RXBUF") }
        if link.multiQueue { out.append("MQ") }
        return out
    }
}

extension TapControl {
    /// Probes the TUN driver. TUNGETFEATURES needs nothing; the rest needs a
    /// throwaway multiqueue tap, made as `create` makes a device: owned by the
    /// caller before anything else, deleted if a stranger attached to it first,
    /// and in privileged-helper mode allowed by the access list like any other.
    /// Its name is "tapctl" and nine random hex digits: a device has no owner
    /// until TUNSETOWNER, and a name known in advance (tapctl0) lets a stranger
    /// spinning on TUNSETIFF win that moment. Making it
    /// needs CAP_NET_ADMIN: without it the rest is reported untested. The
    /// device is never persistent, so closing its queues removes it, on every
    /// path out of here.
    public func probeKernel(opened: () throws(TapError) -> Void) throws(TapError) -> KernelProbe {
        var request = CreateRequest(name: try Self.throwawayName())
        request.multiQueue = true
        request.vnetHeader = true
        var probe = KernelProbe(system: system)
        let device: OpenDevice
        do {
            // Where a private network namespace can be made, the device is made and
            // measured there and never leaves it: no other user can see or reach it.
            let hidden = try withPrivateNamespace { (_) throws(TapError) -> Throwaway in
                let device = try makeHere(request, owner: uid(of: .caller))
                let queues = try countQueues(device.name, flags: request.flags.subtracting(.tunExcl))
                return Throwaway(device: device, maxQueues: queues)
            }
            switch consume hidden {
            case .some(let throwaway):
                device = throwaway.device
                probe.maxQueues = throwaway.maxQueues
            case .none:
                device = try make(request, persistent: false)
            }
        } catch .alreadyExists {
            return try probeKernel(opened: opened)  // one chance in 2^36: draw again
        } catch .needsNetAdmin {
            let unattached = try TapQueue(system: system)
            probe.features = try features(of: unattached.descriptor)
            try opened()
            probe.untested = .needsNetAdmin(request.name.value)
            return probe
        } catch .tunUnavailable(let errno) {
            try opened()
            probe.untested = .tunUnavailable(errno)
            return probe
        }
        let tun = device.queue.descriptor
        probe.features = try features(of: tun)
        if probe.maxQueues == nil { probe.maxQueues = try countQueues(device.name, flags: request.flags.subtracting(.tunExcl)) }
        try opened()
        probe.offloads = Dictionary(uniqueKeysWithValues: Offloads.probeGroups.map { group in
            (group, (try? tun.setOffloads(group.withPrerequisites)) != nil)
        })
        probe.vnetHeaderSizes = Dictionary(uniqueKeysWithValues: KernelProbe.vnetHeaderSizesTried.map { size in
            (size, (try? tun.setVnetHeaderSize(size)) != nil)
        })
        probe.vnetLittleEndian = (try? tun.setVnetLittleEndian(true)) != nil
        probe.vnetBigEndian = (try? tun.setVnetBigEndian(true)) != nil
        return probe
    }

    /// "tapctl" and nine random hex digits: 15 bytes, as many as a name holds.
    static func throwawayName() throws(TapError) -> InterfaceName {
        var generator = SystemRandomNumberGenerator()
        let digits = String(UInt64.random(in: 0..<(1 << 36), using: &generator), radix: 16)
        let name = "tapctl" + String(repeating: "0", count: 9 - digits.count) + digits
        return try InterfaceName(name, allowTemplate: false)
    }

    private func features(of tun: TunDescriptor) throws(TapError) -> TunFlags {
        do {
            return try tun.features()
        } catch {
            throw .system(.ioctl(.TUNGETFEATURES), error)
        }
    }

    /// Attaches queues to the throwaway device until the kernel says E2BIG.
    private func countQueues(_ name: String, flags: TunFlags) throws(TapError) -> Int {
        var extra: [CInt] = []
        defer { extra.forEach { _ = system.close($0) } }
        while extra.count < 4096 {
            let queue = try TapQueue(system: system)
            do {
                _ = try queue.descriptor.setInterface(name, flags: flags)
            } catch {
                guard error == .argListTooLong else { throw .system(.attachQueue(extra.count + 2), error) }
                break
            }
            extra.append(queue.release().rawValue)
        }
        return extra.count + 1
    }

    /// Probes a device without disturbing its users: state from rtnetlink and
    /// ethtool, header size and send buffer from the queue; what the kernel
    /// accepts from `probeKernel`, run once the target is open. A device in use
    /// is probed by NAME without a queue: what needs one is nil, and says why.
    public func probe(_ target: Target, opened: () throws(TapError) -> Void) throws(TapError) -> DeviceProbe {
        guard case .name(let name) = target else { return try probeQueue(target, opened: opened) }
        let link = try tunLink(name.value)
        if link.mayBeHeld { return try probeInUse(link, opened: opened) }
        do {
            return try probeQueue(target, opened: opened)
        } catch .inUse {
            // A holder attached between the check and tapctl's attach.
            return try probeInUse(try tunLink(name.value), opened: opened)
        }
    }

    /// Through a queue: the inherited one, or a temporary one on an idle device.
    private func probeQueue(_ target: Target, opened: () throws(TapError) -> Void) throws(TapError) -> DeviceProbe {
        try withTarget(target, opened: {}) { (tun, held) throws(TapError) -> DeviceProbe in
            guard var link = held.tun else { throw .notTunTap(held.name, kind: held.kind) }
            var inherited = true
            if case .name = target {
                // The device was idle until tapctl's temporary queue, its only one.
                (link.queues, link.disabledQueues, inherited) = (0, 0, false)
            }
            let name = link.name
            // Before the privilege drop: other users' /proc/PID/fd need it.
            let holders = Holders.scan(excludingSelf: true, system: system)[name] ?? []
            let kernel = try probeKernel(opened: opened)
            let queueFlags = try tun.device().flags
            let size: Int
            var buffer: Int?
            do throws(Errno) {
                size = try tun.vnetHeaderSize()
                if inherited { buffer = try tun.sendBuffer() }
            } catch {
                throw .system(.link(.read(name)), error)
            }
            return DeviceProbe(device: Device(link: link, holders: holders), queueFlags: queueFlags, inherited: inherited,
                               features: try DeviceFeatures.read(name, system: system),
                               vnetHeaderSize: size, sendBuffer: buffer, kernel: kernel)
        }
    }

    /// A device in use, probed without adding a queue to it.
    private func probeInUse(_ link: TunLink, opened: () throws(TapError) -> Void) throws(TapError) -> DeviceProbe {
        let holders = Holders.scan(system: system)[link.name] ?? []
        let kernel = try probeKernel(opened: opened)
        return DeviceProbe(device: Device(link: link, holders: holders), queueFlags: nil, inherited: false,
                           features: try DeviceFeatures.read(link.name, system: system), vnetHeaderSize: nil, sendBuffer: nil,
                           kernel: kernel, withoutQueue: "\(link.name) is in use, and tapctl never adds a queue to a device in use")
    }
}

/// Probe's throwaway device, made in a private namespace, and what was
/// measured there.
private struct Throwaway: ~Copyable {
    var device: OpenDevice
    var maxQueues: Int
}
