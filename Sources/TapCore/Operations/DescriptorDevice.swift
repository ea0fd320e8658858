import Glibc
import CTapShim

/// Where the device behind a tun descriptor is, as the descriptor says.
public enum DeviceNamespace: Equatable, Sendable {
    /// The caller's network namespace: a name looked up here is the descriptor's device.
    case current
    /// Another network namespace, where the same name may be another device.
    case other
    /// The kernel would not say (TUNGETDEVNETNS refused: EPERM without
    /// CAP_NET_ADMIN over the device's namespace, which may or may not be the
    /// caller's; or a kernel before 5.2).
    case unverified
}

/// What a held descriptor refers to, read from the descriptor alone: name and
/// flags from TUNGETIFF, the namespace from TUNGETDEVNETNS. Never a name
/// looked up first.
public struct DescriptorDevice: Sendable {
    /// The device's name, in its own namespace.
    public let name: String
    /// The queue's flags (detach_queue set on a disabled queue).
    public let flags: TunFlags
    /// Where the device is, relative to the calling thread.
    public let namespace: DeviceNamespace

    /// A device identified by the caller (one it attached by name in its own namespace, say).
    public init(name: String, flags: TunFlags, namespace: DeviceNamespace) {
        self.name = name
        self.flags = flags
        self.namespace = namespace
    }
}

extension TapControl {
    /// The device behind `tun`, from the descriptor. In privileged-helper mode
    /// CAP_NET_ADMIN is raised for the namespace query alone, and a device in
    /// another namespace, or one whose namespace cannot be read, is refused.
    public func device(behind tun: TunDescriptor) throws(TapError) -> DescriptorDevice {
        let (name, flags) = try interface(ofDescriptor: tun.rawValue)
        guard let namespace = try deviceNamespace(tun, name: name) else {
            if helperMode { throw .namespaceUnverified(name) }
            return DescriptorDevice(name: name, flags: flags, namespace: .unverified)
        }
        defer { _ = system.close(namespace) }
        let current = system.isCurrentNetworkNamespace(namespace)
        if helperMode && !current { throw .foreignNamespace(name, reason: .helperMode) }
        return DescriptorDevice(name: name, flags: flags, namespace: current ? .current : .other)
    }

    /// A descriptor of the network namespace of `tun`'s device, or nil when the
    /// kernel would not say.
    private func deviceNamespace(_ tun: TunDescriptor, name: String) throws(TapError) -> CInt? {
        if helperMode {
            return try gate.withNetAdmin(PrivilegedChange(action: .identify)) { () throws(TapError) -> CInt? in
                try Self.namespaceQuery(tun)
            }
        }
        return try Self.namespaceQuery(tun)
    }

    private static func namespaceQuery(_ tun: TunDescriptor) throws(TapError) -> CInt? {
        do throws(Errno) {
            return try retryingEINTR { tun.system.ioctl(tun.rawValue, ctap_TUNGETDEVNETNS(), .value(0)) }
        } catch {
            switch error {
            case .EPERM, .ENOTTY, .EINVAL: return nil
            default: throw .system("TUNGETDEVNETNS", error)
            }
        }
    }

    /// Runs `body` where names mean the device behind `tun`: in the caller's
    /// namespace when the device is there, or in the device's own, entered for
    /// the calling thread and left afterwards (root and the library; it needs
    /// CAP_SYS_ADMIN). Anything else is an error, never a guess: the device in
    /// another namespace that cannot be entered (`foreignNamespace`), or in
    /// one the kernel would not name (`namespaceUnverified`).
    public func withDeviceNamespace<T: ~Copyable>(of tun: TunDescriptor,
                                       _ body: (DescriptorDevice) throws(TapError) -> T) throws(TapError) -> T {
        let device = try device(behind: tun)
        switch device.namespace {
        case .current:
            return try body(device)
        case .unverified:
            throw .namespaceUnverified(device.name)
        case .other:
            guard let target = try deviceNamespace(tun, name: device.name) else { throw .namespaceUnverified(device.name) }
            defer { _ = system.close(target) }
            let home = try currentNetworkNamespace()
            defer { _ = system.close(home) }
            guard system.setNetworkNamespace(target) == 0 else {
                let error = Errno.current
                throw error == .EPERM ? .foreignNamespace(device.name, reason: .cannotEnter) : .system("setns", error)
            }
            // Back home afterwards; after a privilege drop inside `body` this
            // fails, and the process stays where its device is.
            defer { _ = system.setNetworkNamespace(home) }
            return try body(DescriptorDevice(name: device.name, flags: device.flags, namespace: .current))
        }
    }
}

extension TapControl {
    /// A descriptor of the calling thread's network namespace, to come back to.
    func currentNetworkNamespace() throws(TapError) -> CInt {
        do {
            return try retryingEINTR { system.open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC) }
        } catch {
            throw .system("opening /proc/thread-self/ns/net", error)
        }
    }
}
