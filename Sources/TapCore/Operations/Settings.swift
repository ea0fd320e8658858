import Glibc

/// The values the settings take, checked the same way by the library and the
/// command line before any system call.
public enum SettingLimits {
    /// The virtio-net header sizes: 10 (virtio_net_hdr), 12 (with num_buffers),
    /// 20 (with hash report), 24 (with UDP tunnel fields).
    public static let vnetHeaderSizes = [10, 12, 20, 24]
    /// Queues one device may have (the kernel's MAX_TAP_QUEUES).
    public static let queues = 1...256
    /// A send buffer in bytes; the largest, INT_MAX, is the kernel's default, unlimited.
    public static let sendBuffer = 1...Int(Int32.max)

    /// Throws `TapError.invalidSetting` unless `size` is one of
    /// `vnetHeaderSizes`; the message quotes `shown` (what was typed).
    public static func checkVnetHeaderSize(_ size: Int?, shown: String? = nil) throws(TapError) {
        guard let size, vnetHeaderSizes.contains(size) else {
            throw .invalidSetting("size '\(shown ?? size.map(String.init) ?? "")' is not 10, 12, 20 or 24")
        }
    }

    /// Throws `TapError.invalidSetting` unless `count` is in `queues`.
    public static func checkQueues(_ count: Int?, shown: String? = nil) throws(TapError) {
        guard let count, queues.contains(count) else {
            throw .invalidSetting("queues '\(shown ?? count.map(String.init) ?? "")' is not a number from 1 to 256")
        }
    }

    /// Throws `TapError.invalidSetting` unless `bytes` is in `sendBuffer`.
    public static func checkSendBuffer(_ bytes: Int?, shown: String? = nil) throws(TapError) {
        guard let bytes, sendBuffer.contains(bytes) else {
            throw .invalidSetting("'\(shown ?? bytes.map(String.init) ?? "")' is not a byte count from 1 to \(sendBuffer.upperBound), or unlimited")
        }
    }
}

/// The per-device settings, on a queue opened by `withTarget`.
extension TapControl {
    /// The offloads TUNSETOFFLOAD last set on `device`, as its features show them.
    public func offloads(of device: String) throws(TapError) -> Offloads {
        try DeviceFeatures.read(device, system: system).offloads
    }

    /// Replaces the offload set of the device behind `tun` and returns the set
    /// now in force. TUNSETOFFLOAD acts on the descriptor's own device, so
    /// this needs no privilege; what is read back by name (the set in force,
    /// and the previous set to restore) is read only where the name is known
    /// to be that device (`withDeviceNamespace`). Elsewhere the set returned is
    /// the one the kernel accepted, which replaced the whole set.
    public func setOffloads(_ offloads: Offloads, on tun: TunDescriptor) throws(TapError) -> Offloads {
        try offloads.validate()
        // Where the namespace cannot be entered, acted on through the descriptor alone.
        return try inDeviceNamespace(of: tun, orAsItIs: true) { (device) throws(TapError) in
            try setOffloads(offloads, on: tun, device: device)
        }
    }

    /// `setOffloads` on a device already identified: names are read only when
    /// `device.namespace` is `.current`.
    public func setOffloads(_ offloads: Offloads, on tun: TunDescriptor, device: DescriptorDevice) throws(TapError) -> Offloads {
        try offloads.validate()
        guard device.namespace == .current else {
            do {
                try tun.setOffloads(offloads)
            } catch {
                guard error == .EINVAL else { throw .system("TUNSETOFFLOAD", error) }
                throw .offloadsRefused(device.name, refused: [], kept: nil)
            }
            return offloads
        }
        let previous = try self.offloads(of: device.name)
        do {
            try tun.setOffloads(offloads)
        } catch {
            guard error == .EINVAL else { throw .system("TUNSETOFFLOAD", error) }
            let refused = Offloads.probeGroups.filter { !offloads.isDisjoint(with: $0) }
                .filter { (try? tun.setOffloads($0.withPrerequisites)) == nil }
            let restored = (try? tun.setOffloads(previous)) != nil
            throw .offloadsRefused(device.name, refused: refused.flatMap(\.names), kept: restored ? previous : nil)
        }
        return try self.offloads(of: device.name)
    }

    /// Sets the virtio-net header size (device-wide, sticky); returns the size in force.
    public func setVnetHeaderSize(_ size: Int, on tun: TunDescriptor) throws(TapError) -> Int {
        try SettingLimits.checkVnetHeaderSize(size)
        do {
            try tun.setVnetHeaderSize(size)
            return try tun.vnetHeaderSize()
        } catch {
            throw .system(error == .EINVAL ? "TUNSETVNETHDRSZ \(size)" : "TUNSETVNETHDRSZ", error)
        }
    }

    /// Sets the send buffer of the device's queues open now (TUNSETSNDBUF; a queue attached later
    /// starts unlimited) and returns this queue's, read back.
    public func setSendBuffer(_ bytes: Int, on tun: TunDescriptor) throws(TapError) -> Int {
        try SettingLimits.checkSendBuffer(bytes)
        do {
            try tun.setSendBuffer(bytes)
            return try tun.sendBuffer()
        } catch {
            throw .system("TUNSETSNDBUF", error)
        }
    }

    /// TUNSETQUEUE on an inherited descriptor, with the kernel's EINVAL told apart.
    public func setQueue(attached: Bool, fd: CInt) throws(TapError) -> String {
        let device = try device(behind: TunDescriptor(fd, system: system))
        let (name, flags) = (device.name, device.flags)
        do {
            try TunDescriptor(fd, system: system).setQueue(attached: attached)
        } catch {
            switch error {
            case .EINVAL where !flags.contains(.multiQueue):
                throw .queueRefused(fd: fd, "a queue of \(name), which is not multiqueue")
            case .EINVAL where attached && !flags.contains(.detachQueue):
                throw .queueRefused(fd: fd, "already attached to \(name)")
            case .EINVAL where !attached && flags.contains(.detachQueue):
                throw .queueRefused(fd: fd, "already detached from \(name)")
            case .EPERM:
                // The owner and group are read by name only where the name is this device.
                let link = device.namespace == .current ? try? tunLink(name) : nil
                throw .notPermitted(name, owner: link?.owner, group: link?.group)
            default:
                throw .system("TUNSETQUEUE", error)
            }
        }
        return name
    }
}
