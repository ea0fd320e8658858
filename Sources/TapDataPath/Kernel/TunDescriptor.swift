import Glibc
import CTapShim
import SystemPackage
import TapSystem

/// A descriptor of /dev/net/tun, borrowed: the ioctls of the TUN driver on a
/// descriptor someone else owns (an inherited fd) or on a `TapQueue`.
public struct TunDescriptor: Sendable {
    /// The descriptor number.
    package let rawValue: CInt
    package let system: SystemCalls

    /// Wraps `fd`, which stays the caller's: nothing here closes it. `system` is for tests.
    public init(_ fd: FileDescriptor, system: SystemCalls = .live) {
        self.init(fd.rawValue, system: system)
    }

    /// The descriptor.
    public var fileDescriptor: FileDescriptor { FileDescriptor(rawValue: rawValue) }

    package init(_ rawValue: CInt, system: SystemCalls = .live) {
        self.rawValue = rawValue
        self.system = system
    }

    package func ioctl(_ request: UInt, _ argument: UnsafeMutableRawPointer) throws(Errno) {
        _ = try retryingEINTR { system.ioctl(rawValue, request, .pointer(argument)) }
    }

    package func ioctl(_ request: UInt, value: UInt) throws(Errno) {
        _ = try retryingEINTR { system.ioctl(rawValue, request, .value(value)) }
    }

    /// TUNSETIFF: attaches to `name` (or creates it); returns the name the kernel used,
    /// which differs from `name` for a template, and the flags it reported back.
    package func setInterface(_ name: String, flags: TunFlags) throws(Errno) -> (name: String, flags: TunFlags) {
        var request = ifreq()
        ctap_ifreq_set(&request, name, Int16(bitPattern: flags.rawValue))
        try ioctl(ctap_TUNSETIFF(), &request)
        let decoded = Self.decode(request)
        return (decoded.name, decoded.flags)
    }

    /// TUNGETIFF: the attached device's name and flags (detach_queue set on a disabled queue).
    /// A name that is not valid UTF-8 is EILSEQ: as a String it would be
    /// another name (each bad byte U+FFFD), which may be another device's.
    package func interface() throws(Errno) -> (name: String, flags: TunFlags) {
        var request = ifreq()
        try ioctl(ctap_TUNGETIFF(), &request)
        let decoded = Self.decode(request)
        guard decoded.exact else { throw .illegalByteSequence }
        return (decoded.name, decoded.flags)
    }

    /// TUNSETOWNER. Must come before `setPersistent(true)`.
    package func setOwner(_ uid: uid_t) throws(Errno) { try ioctl(ctap_TUNSETOWNER(), value: UInt(uid)) }

    /// TUNSETGROUP. Must come before `setPersistent(true)`.
    package func setGroup(_ gid: gid_t) throws(Errno) { try ioctl(ctap_TUNSETGROUP(), value: UInt(gid)) }

    /// TUNSETPERSIST: a persistent device outlives its last descriptor.
    package func setPersistent(_ on: Bool) throws(Errno) { try ioctl(ctap_TUNSETPERSIST(), value: on ? 1 : 0) }

    /// The name and flags, and whether the name's bytes are exactly the String's.
    private static func decode(_ request: ifreq) -> (name: String, flags: TunFlags, exact: Bool) {
        var request = request
        var name = [CChar](repeating: 0, count: Int(IFNAMSIZ))
        ctap_ifreq_name(&request, &name)
        let bytes = name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        let text = String(decoding: bytes, as: UTF8.self)
        return (text, TunFlags(rawValue: UInt16(bitPattern: ctap_ifreq_flags(&request))), Array(text.utf8) == bytes)
    }
}

// The per-device settings of QEMU's net/tap-linux.c. None needs a capability on
// an attached descriptor; all but TUNGETFEATURES need one.
extension TunDescriptor {
    /// TUNGETFEATURES: the TUNSETIFF flags this kernel knows (works unattached).
    package func features() throws(Errno) -> TunFlags {
        var value: CUnsignedInt = 0
        try ioctl(ctap_TUNGETFEATURES(), &value)
        return TunFlags(rawValue: UInt16(truncatingIfNeeded: value))
    }

    /// TUNSETOFFLOAD replaces the whole set; a refused set leaves the old one.
    package func setOffloads(_ offloads: Offloads) throws(Errno) {
        try ioctl(ctap_TUNSETOFFLOAD(), value: UInt(offloads.rawValue))
    }

    /// Device-wide and sticky: the size of the virtio-net header on every queue.
    package func vnetHeaderSize() throws(Errno) -> Int { try getInt(ctap_TUNGETVNETHDRSZ()) }
    /// TUNSETVNETHDRSZ: EINVAL below 10. `TapControl.setVnetHeaderSize` allows 10, 12, 20 and 24 only.
    package func setVnetHeaderSize(_ size: Int) throws(Errno) { try setInt(ctap_TUNSETVNETHDRSZ(), size) }

    /// TUNGETSNDBUF: this queue's send buffer (INT_MAX is unlimited).
    package func sendBuffer() throws(Errno) -> Int { try getInt(ctap_TUNGETSNDBUF()) }
    /// TUNSETSNDBUF: the send buffer of the queues open now (one attached later starts unlimited);
    /// EINVAL for 0 or less.
    package func setSendBuffer(_ bytes: Int) throws(Errno) { try setInt(ctap_TUNSETSNDBUF(), bytes) }

    /// TUNGETVNETLE: whether the device's legacy virtio-net headers are little-endian.
    package func vnetLittleEndian() throws(Errno) -> Bool { try getInt(ctap_TUNGETVNETLE()) != 0 }
    /// Little- or big-endian virtio-net headers for legacy (pre-1.0) guests.
    package func setVnetLittleEndian(_ on: Bool) throws(Errno) { try setInt(ctap_TUNSETVNETLE(), on ? 1 : 0) }
    /// TUNSETVNETBE: EINVAL on a kernel built without CONFIG_TUN_VNET_CROSS_LE.
    package func setVnetBigEndian(_ on: Bool) throws(Errno) { try setInt(ctap_TUNSETVNETBE(), on ? 1 : 0) }

    /// TUNSETQUEUE: enables or disables this queue of a multiqueue device.
    package func setQueue(attached: Bool) throws(Errno) {
        var request = ifreq()
        ctap_ifreq_set(&request, "", Int16(bitPattern: (attached ? TunFlags.attachQueue : TunFlags.detachQueue).rawValue))
        try ioctl(ctap_TUNSETQUEUE(), &request)
    }

    private func getInt(_ request: UInt) throws(Errno) -> Int {
        var value: CInt = 0
        try ioctl(request, &value)
        return Int(value)
    }

    private func setInt(_ request: UInt, _ value: Int) throws(Errno) {
        var value = CInt(clamping: value)
        try ioctl(request, &value)
    }
}
