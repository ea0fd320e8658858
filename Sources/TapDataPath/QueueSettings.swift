import Glibc
import SystemPackage
import TapSystem

/// The values the settings take, checked the same way by the libraries and the
/// command line before any system call.
public enum SettingLimits {
    /// The virtio-net header sizes: 10 (virtio_net_hdr), 12 (with num_buffers),
    /// 20 (with hash report), 24 (with UDP tunnel fields).
    public static let vnetHeaderSizes = [10, 12, 20, 24]
    /// Queues one device may have (the kernel's MAX_TAP_QUEUES).
    public static let queues = 1...256
    /// A send buffer in bytes; the largest, INT_MAX, is the kernel's default, unlimited.
    public static let sendBuffer = 1...Int(Int32.max)

    /// Throws `TapError.invalidValue` unless `size` is one of
    /// `vnetHeaderSizes`; the error quotes `shown` (what was typed).
    public static func checkVnetHeaderSize(_ size: Int?, shown: String? = nil) throws(TapError) {
        guard let size, vnetHeaderSizes.contains(size) else {
            throw .invalidValue(.vnetHeaderSize, given: shown ?? size.map(String.init) ?? "")
        }
    }

    /// Throws `TapError.invalidValue` unless `count` is in `queues`.
    public static func checkQueues(_ count: Int?, shown: String? = nil) throws(TapError) {
        guard let count, queues.contains(count) else {
            throw .invalidValue(.queues, given: shown ?? count.map(String.init) ?? "")
        }
    }

    /// Throws `TapError.invalidValue` unless `bytes` is in `sendBuffer`.
    public static func checkSendBuffer(_ bytes: Int?, shown: String? = nil) throws(TapError) {
        guard let bytes, sendBuffer.contains(bytes) else {
            throw .invalidValue(.sendBuffer, given: shown ?? bytes.map(String.init) ?? "")
        }
    }
}

// The device-wide settings through one of its queues: none needs a
// capability, and each goes to the descriptor's own device, never a name.
extension TunDescriptor {
    /// Replaces the offloads of `device` (this descriptor's) and returns the
    /// set in force. What is read back by name (the set in force, and the
    /// previous set to restore) is read only where `device.namespace` is
    /// `.current`; elsewhere the set returned is the one the kernel accepted,
    /// which replaced the whole set.
    package func applyOffloads(_ offloads: Offloads, device: DescriptorDevice) throws(TapError) -> Offloads {
        try offloads.validate()
        guard device.namespace == .current else {
            do {
                try setOffloads(offloads)
            } catch {
                guard error == .invalidArgument else { throw .system(.ioctl(.TUNSETOFFLOAD), error) }
                throw .offloadsRefused(device.name, refused: [], kept: nil)
            }
            return offloads
        }
        let previous = try DeviceFeatures.read(device.name, system: system).offloads
        do {
            try setOffloads(offloads)
        } catch {
            guard error == .invalidArgument else { throw .system(.ioctl(.TUNSETOFFLOAD), error) }
            let refused = Offloads.probeGroups.filter { !offloads.isDisjoint(with: $0) }
                .filter { (try? setOffloads($0.withPrerequisites)) == nil }
            let restored = (try? setOffloads(previous)) != nil
            throw .offloadsRefused(device.name, refused: refused.reduce(into: Offloads()) { $0.formUnion($1) },
                                   kept: restored ? previous : nil)
        }
        return try DeviceFeatures.read(device.name, system: system).offloads
    }

    /// Sets the virtio-net header size (device-wide, sticky); returns the size in force.
    package func applyVnetHeaderSize(_ size: Int) throws(TapError) -> Int {
        try SettingLimits.checkVnetHeaderSize(size)
        do {
            try setVnetHeaderSize(size)
        } catch {
            throw .system(.ioctl(.TUNSETVNETHDRSZ), error)
        }
        do {
            return try vnetHeaderSize()
        } catch {
            throw .system(.ioctl(.TUNGETVNETHDRSZ), error)
        }
    }

    /// Sets the send buffer of the device's queues open now (TUNSETSNDBUF; a
    /// queue attached later starts unlimited) and returns this queue's, read back.
    package func applySendBuffer(_ bytes: Int) throws(TapError) -> Int {
        try SettingLimits.checkSendBuffer(bytes)
        do {
            try setSendBuffer(bytes)
        } catch {
            throw .system(.ioctl(.TUNSETSNDBUF), error)
        }
        do {
            return try sendBuffer()
        } catch {
            throw .system(.ioctl(.TUNGETSNDBUF), error)
        }
    }

    /// TUNSETQUEUE on this queue of `device`, the kernel's EINVAL told apart.
    /// EPERM is `notPermitted` without the owner and group, which only a name
    /// lookup tells.
    package func applyQueue(attached: Bool, device: DescriptorDevice) throws(TapError) {
        do {
            try setQueue(attached: attached)
        } catch {
            let name = device.name, flags = device.flags
            switch error {
            case .invalidArgument where !flags.contains(.multiQueue):
                throw .queueRefused(fd: rawValue, .notMultiQueue(device: name))
            case .invalidArgument where attached && !flags.contains(.detachQueue):
                throw .queueRefused(fd: rawValue, .alreadyAttached(device: name))
            case .invalidArgument where !attached && flags.contains(.detachQueue):
                throw .queueRefused(fd: rawValue, .alreadyDetached(device: name))
            case .notPermitted:
                throw .notPermitted(name, owner: nil, group: nil)
            default:
                throw .system(.ioctl(.TUNSETQUEUE), error)
            }
        }
    }
}
