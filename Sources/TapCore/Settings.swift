import Glibc

/// The per-device settings, on a queue opened by `withTarget`.
extension TapControl {
    /// The offloads TUNSETOFFLOAD last set on `device`, as its features show them.
    public func offloads(of device: String) throws(TapError) -> Offloads {
        try DeviceFeatures.read(device, system: system).offloads
    }

    /// Replaces the offload set and returns the set now in force. The rules are
    /// checked first; a set the kernel still refuses (an older kernel) is tried
    /// offload by offload to name the culprits, and the previous set restored.
    public func setOffloads(_ offloads: Offloads, on tun: TunDescriptor, device: String) throws(TapError) -> Offloads {
        do {
            try offloads.validate()
        } catch {
            throw .offloadProblem(error)
        }
        let previous = try self.offloads(of: device)
        do {
            try tun.setOffloads(offloads)
        } catch {
            guard error == .EINVAL else { throw .system("TUNSETOFFLOAD", error) }
            let refused = Offloads.probeGroups.filter { !offloads.isDisjoint(with: $0) }
                .filter { (try? tun.setOffloads($0.withPrerequisites)) == nil }
            let restored = (try? tun.setOffloads(previous)) != nil
            throw .offloadsRefused(device, refused: refused.flatMap(\.names), kept: restored ? previous : nil)
        }
        return try self.offloads(of: device)
    }

    /// Sets the virtio-net header size (device-wide, sticky); returns the size in force.
    public func setVnetHeaderSize(_ size: Int, on tun: TunDescriptor) throws(TapError) -> Int {
        do {
            try tun.setVnetHeaderSize(size)
            return try tun.vnetHeaderSize()
        } catch {
            throw .system(error == .EINVAL ? "TUNSETVNETHDRSZ \(size)" : "TUNSETVNETHDRSZ", error)
        }
    }

    /// Sets the send buffer of every queue (device-wide, sticky); returns the size in force.
    public func setSendBuffer(_ bytes: Int, on tun: TunDescriptor) throws(TapError) -> Int {
        do {
            try tun.setSendBuffer(bytes)
            return try tun.sendBuffer()
        } catch {
            throw .system("TUNSETSNDBUF", error)
        }
    }

    /// TUNSETQUEUE on an inherited descriptor, with the kernel's EINVAL told apart.
    public func setQueue(attached: Bool, fd: CInt) throws(TapError) -> String {
        let (name, flags) = try interface(ofDescriptor: fd)
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
                let link = try? tunLink(name)
                throw .notPermitted(name, owner: link?.owner, group: link?.group)
            default:
                throw .system("TUNSETQUEUE", error)
            }
        }
        return name
    }
}
