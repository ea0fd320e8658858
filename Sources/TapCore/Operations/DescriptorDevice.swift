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
        let (device, other) = try identify(tun)
        if let other { _ = system.close(other) }
        return device
    }

    /// `device(behind:)`, and for a device in another namespace a descriptor
    /// of that namespace, the caller's to close.
    private func identify(_ tun: TunDescriptor) throws(TapError) -> (device: DescriptorDevice, other: CInt?) {
        let (name, flags) = try interface(ofDescriptor: tun.rawValue)
        guard let namespace = try deviceNamespace(tun, name: name) else {
            if helperMode { throw .namespaceUnverified(name) }
            return (DescriptorDevice(name: name, flags: flags, namespace: .unverified), nil)
        }
        guard !system.isCurrentNetworkNamespace(namespace) else {
            _ = system.close(namespace)
            return (DescriptorDevice(name: name, flags: flags, namespace: .current), nil)
        }
        guard !helperMode else {
            _ = system.close(namespace)
            throw .foreignNamespace(name, reason: .helperMode)
        }
        return (DescriptorDevice(name: name, flags: flags, namespace: .other), namespace)
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
        try inDeviceNamespace(of: tun, orAsItIs: false, body)
    }

    /// `withDeviceNamespace`, the device identified once; with `orAsItIs`, a
    /// device whose namespace cannot be entered or read goes to `body` as it
    /// is (`.other` or `.unverified`), for what acts through the descriptor
    /// alone, instead of failing.
    func inDeviceNamespace<T: ~Copyable>(of tun: TunDescriptor, orAsItIs: Bool,
                                         _ body: (DescriptorDevice) throws(TapError) -> T) throws(TapError) -> T {
        let (device, other) = try identify(tun)
        guard let other else {
            if device.namespace == .unverified && !orAsItIs { throw .namespaceUnverified(device.name) }
            return try body(device)
        }
        defer { _ = system.close(other) }
        let home = try currentNetworkNamespace()
        defer { _ = system.close(home) }
        guard system.setNetworkNamespace(other) == 0 else {
            let error = Errno.current
            if error == .EPERM && orAsItIs { return try body(device) }
            throw error == .EPERM ? .foreignNamespace(device.name, reason: .cannotEnter) : .system("setns", error)
        }
        // Back home afterwards; after a privilege drop inside `body` this
        // fails, and the process stays where its device is.
        defer { _ = system.setNetworkNamespace(home) }
        return try body(DescriptorDevice(name: device.name, flags: device.flags, namespace: .current))
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
