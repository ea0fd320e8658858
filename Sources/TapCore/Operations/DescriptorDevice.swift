import Glibc
import SystemPackage
import TapSystem
import TapDataPath

extension TapControl {
    /// Finds the device behind a descriptor; in privileged-helper mode the
    /// namespace query raises CAP_NET_ADMIN through the gate, for it alone.
    var locator: DeviceLocator {
        guard helperMode else { return DeviceLocator(system: system) }
        let gate = self.gate
        return DeviceLocator(system: system, helperMode: true) { (tun) throws(TapError) -> CInt? in
            try gate.withNetAdmin(PrivilegedChange(action: .identify)) { () throws(TapError) -> CInt? in
                try tun.namespaceDescriptor()
            }
        }
    }

    /// The device behind `tun`, from the descriptor. In privileged-helper mode
    /// CAP_NET_ADMIN is raised for the namespace query alone, and a device in
    /// another namespace, or one whose namespace cannot be read, is refused.
    public func device(behind tun: TunDescriptor) throws(TapError) -> DescriptorDevice {
        let (device, other) = try locator.identify(tun)
        if let other { _ = system.close(other) }
        return device
    }

    /// Runs `body` where names mean the device behind `tun`: in the caller's
    /// namespace when the device is there, or in the device's own, entered for
    /// the calling thread and left afterwards (root and the library; it needs
    /// CAP_SYS_ADMIN). Anything else is an error, never a guess: the device in
    /// another namespace that cannot be entered (`foreignNamespace`), or in
    /// one the kernel would not name (`namespaceUnverified`).
    public func withDeviceNamespace<T: ~Copyable>(of tun: TunDescriptor,
                                                  _ body: (DescriptorDevice) throws(TapError) -> T) throws(TapError) -> T {
        try locator.inDeviceNamespace(of: tun, orAsItIs: false, body)
    }

    /// `withDeviceNamespace`, the device identified once; with `orAsItIs`, a
    /// device whose namespace cannot be entered or read goes to `body` as it
    /// is (`.other` or `.unverified`), for what acts through the descriptor
    /// alone, instead of failing.
    func inDeviceNamespace<T: ~Copyable>(of tun: TunDescriptor, orAsItIs: Bool,
                                         _ body: (DescriptorDevice) throws(TapError) -> T) throws(TapError) -> T {
        try locator.inDeviceNamespace(of: tun, orAsItIs: orAsItIs, body)
    }

    /// A descriptor of the calling thread's network namespace, to come back to.
    func currentNetworkNamespace() throws(TapError) -> CInt {
        try locator.currentNetworkNamespace()
    }

    /// The device behind an inherited descriptor (TUNGETIFF), never closing it.
    public func interface(ofDescriptor fd: FileDescriptor) throws(TapError) -> (name: String, flags: TunFlags) {
        try TunDescriptor(fd, system: system).device()
    }
}
