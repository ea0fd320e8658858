import Glibc
import SystemPackage
import TapSystem
import TapDataPath

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
            try tun.applyOffloads(offloads, device: device)
        }
    }

    /// `setOffloads` on a device already identified: names are read only when
    /// `device.namespace` is `.current`.
    public func setOffloads(_ offloads: Offloads, on tun: TunDescriptor, device: DescriptorDevice) throws(TapError) -> Offloads {
        try tun.applyOffloads(offloads, device: device)
    }

    /// Sets the virtio-net header size (device-wide, sticky); returns the size in force.
    public func setVnetHeaderSize(_ size: Int, on tun: TunDescriptor) throws(TapError) -> Int {
        try tun.applyVnetHeaderSize(size)
    }

    /// Sets the send buffer of the device's queues open now (TUNSETSNDBUF; a queue attached later
    /// starts unlimited) and returns this queue's, read back.
    public func setSendBuffer(_ bytes: Int, on tun: TunDescriptor) throws(TapError) -> Int {
        try tun.applySendBuffer(bytes)
    }

    /// TUNSETQUEUE on an inherited descriptor, with the kernel's EINVAL told
    /// apart; returns the device's name.
    public func setQueue(attached: Bool, fd: FileDescriptor) throws(TapError) -> String {
        let tun = TunDescriptor(fd.rawValue, system: system)
        let device = try device(behind: tun)
        do {
            try tun.applyQueue(attached: attached, device: device)
        } catch .notPermitted(let name, _, _) {
            // The owner and group are read by name only where the name is this device.
            let link = device.namespace == .current ? try? tunLink(name) : nil
            throw .notPermitted(name, owner: link?.owner, group: link?.group)
        }
        return device.name
    }
}
