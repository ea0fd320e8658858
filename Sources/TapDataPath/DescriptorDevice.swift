import Glibc
import CTapShim
import SystemPackage
import TapSystem

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

extension TunDescriptor {
    /// The device this descriptor is a queue of and the queue's flags
    /// (TUNGETIFF), with the kernel's refusals told apart: `notOpen`,
    /// `unattachedDescriptor`, `notTunDescriptor`.
    public func device() throws(TapError) -> (name: String, flags: TunFlags) {
        do {
            return try interface()
        } catch {
            switch error {
            case .badFileDescriptor: throw .notOpen(fd: rawValue)
            case .badFileDescriptorState: throw .unattachedDescriptor(fd: rawValue)
            case .inappropriateIOCTLForDevice, .invalidArgument, .notSupportedOnSocket: throw .notTunDescriptor(fd: rawValue)
            default: throw .system(.ioctl(.TUNGETIFF), error)
            }
        }
    }

    /// A descriptor of the network namespace of this descriptor's device
    /// (TUNGETDEVNETNS), the caller's to close; nil when the kernel would not say.
    package func namespaceDescriptor() throws(TapError) -> CInt? {
        do throws(Errno) {
            return try retryingEINTR { system.ioctl(rawValue, ctap_TUNGETDEVNETNS(), .value(0)) }
        } catch {
            switch error {
            case .notPermitted, .inappropriateIOCTLForDevice, .invalidArgument: return nil
            default: throw .system(.ioctl(.TUNGETDEVNETNS), error)
            }
        }
    }
}

/// Finds where the device behind a descriptor is, and acts there. Privileged-
/// helper mode passes a `namespaceQuery` that raises CAP_NET_ADMIN through its
/// gate, and refuses what it cannot verify.
package struct DeviceLocator {
    package let system: SystemCalls
    package let helperMode: Bool
    package let namespaceQuery: (TunDescriptor) throws(TapError) -> CInt?

    package init(system: SystemCalls, helperMode: Bool = false,
                 namespaceQuery: @escaping (TunDescriptor) throws(TapError) -> CInt? = { (tun) throws(TapError) in try tun.namespaceDescriptor() }) {
        self.system = system
        self.helperMode = helperMode
        self.namespaceQuery = namespaceQuery
    }

    /// The device behind `tun`, and for a device in another namespace a
    /// descriptor of that namespace, the caller's to close.
    package func identify(_ tun: TunDescriptor) throws(TapError) -> (device: DescriptorDevice, other: CInt?) {
        let (name, flags) = try tun.device()
        guard let namespace = try namespaceQuery(tun) else {
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

    /// Runs `body` where names mean the device behind `tun`: in the caller's
    /// namespace when the device is there, or in the device's own, entered for
    /// the calling thread and left afterwards (it needs CAP_SYS_ADMIN).
    /// Anything else is an error, never a guess: a device in another
    /// namespace that cannot be entered (`foreignNamespace`), or in one the
    /// kernel would not name (`namespaceUnverified`). With `orAsItIs`, such a
    /// device goes to `body` as it is (`.other` or `.unverified`), for what
    /// acts through the descriptor alone, instead of failing.
    package func inDeviceNamespace<T: ~Copyable>(of tun: TunDescriptor, orAsItIs: Bool,
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
            if error == .notPermitted && orAsItIs { return try body(device) }
            throw error == .notPermitted ? .foreignNamespace(device.name, reason: .cannotEnter) : .system(.setns, error)
        }
        // Back home afterwards; after a privilege drop inside `body` this
        // fails, and the process stays where its device is.
        defer { _ = system.setNetworkNamespace(home) }
        return try body(DescriptorDevice(name: device.name, flags: device.flags, namespace: .current))
    }

    /// A descriptor of the calling thread's network namespace, to come back to.
    package func currentNetworkNamespace() throws(TapError) -> CInt {
        do {
            return try retryingEINTR { system.open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC) }
        } catch {
            throw .system(.openNamespace, error)
        }
    }
}
