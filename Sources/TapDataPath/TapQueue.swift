import Glibc
import Synchronization
import SystemPackage
import TapSystem

/// One queue of a tun/tap device, as a VMM holds it: an owned descriptor of
/// /dev/net/tun, closed when the value goes out of scope unless `release()`
/// hands it on. Frames go in and out with `receive`/`send` (the virtio-net
/// header as a `VirtioNetHeader` value when the queue has IFF_VNET_HDR) or
/// the raw `read`/`write` and their scatter/gather forms; `fileDescriptor`
/// is for the caller's own poll or epoll loop, with `setNonBlocking`.
///
/// Get queues from `TapControl.open`, one at a time with
/// `Handoff.takeQueue()`, another of the same device with `openAnother()`,
/// or adopt a descriptor received from elsewhere with `init(adopting:)`.
public struct TapQueue: ~Copyable {
    /// The descriptor and the TUN ioctls on it.
    public let descriptor: TunDescriptor
    private var owned = true
    /// The header size is the device's, not the queue's: every queue of a
    /// device this process got from one `Handoff`, or through `openAnother`,
    /// shares one, so a size set through any of them is the size all of them
    /// parse with, without a system call per frame.
    package let shared: SharedHeaderSize

    /// The bytes of virtio-net header before each frame: the device's header
    /// size when the queue has IFF_VNET_HDR, else 0. Read when the first
    /// queue was made or adopted, and kept up to date by `setVnetHeaderSize`
    /// on any queue that shares it. A size another process sets is not seen.
    public var headerSize: Int { shared.bytes.load(ordering: .relaxed) }

    /// Opens /dev/net/tun (close-on-exec), attached to nothing yet; its network
    /// namespace is the caller's now. Throws `TapError.tunUnavailable`.
    public init(system: SystemCalls = .live) throws(TapError) {
        try self.init(system: system, sharing: SharedHeaderSize(0))
    }

    package init(system: SystemCalls, sharing: SharedHeaderSize) throws(TapError) {
        shared = sharing
        do {
            let fd = try retryingEINTR { system.open("/dev/net/tun", O_RDWR | O_CLOEXEC) }
            descriptor = TunDescriptor(fd, system: system)
        } catch {
            throw .tunUnavailable(error)
        }
    }

    /// Takes ownership of `fd`, a queue attached to a device (received over a
    /// Unix socket, say): it is closed with this value. Reads the queue's
    /// flags and header size; throws `notOpen`, `notTunDescriptor` or
    /// `unattachedDescriptor` (and leaves `fd` open) when it is no such queue.
    public init(adopting fd: FileDescriptor, system: SystemCalls = .live) throws(TapError) {
        try self.init(adopting: fd.rawValue, sharing: nil, system: system)
    }

    /// A view of `fd`, which stays its owner's (`TapQueues`): never closed here.
    package init(borrowing fd: CInt, sharing: SharedHeaderSize, system: SystemCalls) {
        descriptor = TunDescriptor(fd, system: system)
        shared = sharing
        owned = false
    }

    /// Adopts `fd`, sharing the header size of queues of the same device
    /// adopted before it (nil: reads it from the device).
    package init(adopting fd: CInt, sharing: SharedHeaderSize?, system: SystemCalls) throws(TapError) {
        let tun = TunDescriptor(fd, system: system)
        if let sharing {
            shared = sharing
        } else {
            let flags = try tun.device().flags
            shared = SharedHeaderSize(flags.contains(.vnetHdr) ? try Self.vnetHeaderSize(tun) : 0)
        }
        descriptor = tun
    }

    /// The descriptor, for poll, epoll or another program; still owned here.
    public var fileDescriptor: FileDescriptor { FileDescriptor(rawValue: descriptor.rawValue) }

    /// Gives up ownership: the descriptor stays open and is the caller's to close.
    public consuming func release() -> FileDescriptor {
        owned = false
        return FileDescriptor(rawValue: descriptor.rawValue)
    }

    deinit {
        guard owned else { return }
        // Never retried: Linux frees the descriptor even when close reports EINTR.
        _ = descriptor.system.close(descriptor.rawValue)
    }

    private static func vnetHeaderSize(_ tun: TunDescriptor) throws(TapError) -> Int {
        do {
            return try tun.vnetHeaderSize()
        } catch {
            throw .system(.ioctl(.TUNGETVNETHDRSZ), error)
        }
    }
}

// Frames. A read returns one whole frame (the kernel never splits one); a
// write sends one. In non-blocking mode, nil means "nothing now" (EAGAIN).
// EINTR is retried; any other failure is `TapError.system` with the errno.
extension TapQueue {
    /// The device the queue belongs to and its flags (TUNGETIFF).
    public func interface() throws(TapError) -> (name: String, flags: TunFlags) {
        try descriptor.device()
    }

    /// Reads one frame, virtio-net header included, into `buffer`; returns its length.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(TapError) -> Int? {
        try transfer(.read) { descriptor.system.read(descriptor.rawValue, buffer) }
    }

    /// Writes one frame, virtio-net header included; returns the bytes written.
    public func write(_ frame: UnsafeRawBufferPointer) throws(TapError) -> Int? {
        try transfer(.write) { descriptor.system.write(descriptor.rawValue, frame) }
    }

    /// Reads one frame scattered over the caller's iovecs, in order (readv):
    /// a virtqueue's descriptor chain as it is, with nothing allocated per
    /// call. Returns the frame's length, header included.
    public func read(vectors: UnsafeBufferPointer<iovec>) throws(TapError) -> Int? {
        try transfer(.readv) { descriptor.system.readv(descriptor.rawValue, vectors) }
    }

    /// Writes one frame gathered from the caller's iovecs, in order (writev),
    /// header included; nothing is allocated per call.
    public func write(vectors: UnsafeBufferPointer<iovec>) throws(TapError) -> Int? {
        try transfer(.writev) { descriptor.system.writev(descriptor.rawValue, vectors) }
    }

    /// Reads one frame scattered over `buffers`, in order (readv).
    public func read(into buffers: [UnsafeMutableRawBufferPointer]) throws(TapError) -> Int? {
        try withUnsafeTemporaryAllocation(of: iovec.self, capacity: buffers.count) { (vectors) throws(TapError) in
            for (index, buffer) in buffers.enumerated() {
                vectors[index] = iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)
            }
            return try transfer(.readv) { descriptor.system.readv(descriptor.rawValue, UnsafeBufferPointer(vectors)) }
        }
    }

    /// Writes one frame gathered from `buffers`, in order (writev).
    public func write(_ buffers: [UnsafeRawBufferPointer]) throws(TapError) -> Int? {
        try withUnsafeTemporaryAllocation(of: iovec.self, capacity: buffers.count) { (vectors) throws(TapError) in
            for (index, buffer) in buffers.enumerated() {
                vectors[index] = iovec(iov_base: UnsafeMutableRawPointer(mutating: buffer.baseAddress), iov_len: buffer.count)
            }
            return try transfer(.writev) { descriptor.system.writev(descriptor.rawValue, UnsafeBufferPointer(vectors)) }
        }
    }

    /// Reads one frame into `frame` and its virtio-net header apart: the
    /// header (nil on a queue without IFF_VNET_HDR) and the frame's length.
    /// The kernel cuts a frame longer than `frame` short and says only how
    /// much it copied; one byte read past `frame` tells, and the frame is
    /// `TapError.frameTruncated`, never passed off as whole. Size `frame` for
    /// the device's MTU plus the 14-byte Ethernet header, or 65550 bytes when
    /// segmentation offloads let the kernel hand over frames up to 64 KiB.
    public func receive(into frame: UnsafeMutableRawBufferPointer) throws(TapError) -> (header: VirtioNetHeader?, length: Int)? {
        try withVectors(frame, sentinel: true) { (header, vectors) throws(TapError) in
            // Without IFF_VNET_HDR the header's iovec is empty.
            guard let received = try transfer(.readv, { descriptor.system.readv(descriptor.rawValue, vectors) }) else { return nil }
            guard received >= headerSize else { throw .malformedHeader(.frameShorterThanHeader(received)) }
            guard received - headerSize <= frame.count else { throw .frameTruncated(capacity: frame.count) }
            return (headerSize > 0 ? try VirtioNetHeader(bytes: UnsafeRawBufferPointer(header)) : nil, received - headerSize)
        }
    }

    /// Writes one frame with `header` before it (on a queue without
    /// IFF_VNET_HDR the header is not sent); returns the frame's bytes written.
    public func send(_ frame: UnsafeRawBufferPointer, header: VirtioNetHeader = VirtioNetHeader()) throws(TapError) -> Int? {
        guard headerSize > 0 else { return try write(frame) }
        return try withVectors(UnsafeMutableRawBufferPointer(mutating: frame)) { (bytes, vectors) throws(TapError) in
            header.encode(into: bytes)
            return try transfer(.writev) { descriptor.system.writev(descriptor.rawValue, vectors) }.map { max(0, $0 - headerSize) }
        }
    }

    /// One stack allocation for a frame's header bytes and the two iovecs,
    /// header then `frame`: the per-frame path allocates nothing on the heap.
    private func withVectors<T>(_ frame: UnsafeMutableRawBufferPointer, sentinel: Bool = false,
                                _ body: (UnsafeMutableRawBufferPointer, UnsafeBufferPointer<iovec>) throws(TapError) -> T)
        throws(TapError) -> T {
        // iovecs 0 and 1 point at header and frame, and with `sentinel` iovec 2
        // at one byte past the frame; the space after them holds the header
        // itself (any size another program set the device to) and that byte.
        let size = headerSize
        return try withUnsafeTemporaryAllocation(of: iovec.self, capacity: 3 + (size + 1 + 15) / 16) { (space) throws(TapError) in
            let bytes = UnsafeMutableRawBufferPointer(space)[48...]
            let header = UnsafeMutableRawBufferPointer(rebasing: bytes.prefix(size))
            space[0] = iovec(iov_base: header.baseAddress, iov_len: size)
            space[1] = iovec(iov_base: frame.baseAddress, iov_len: frame.count)
            space[2] = iovec(iov_base: UnsafeMutableRawBufferPointer(rebasing: bytes.dropFirst(size)).baseAddress, iov_len: 1)
            return try body(header, UnsafeBufferPointer(rebasing: space[0..<(sentinel ? 3 : 2)]))
        }
    }

    /// `read` into an array: the frame, header included, fills its start.
    public func read(into frame: inout [UInt8]) throws(TapError) -> Int? {
        try frame.withUnsafeMutableBytes { bytes in Result { () throws(TapError) in try read(into: bytes) } }.get()
    }

    /// `write` of an array, header included.
    public func write(_ frame: [UInt8]) throws(TapError) -> Int? {
        try frame.withUnsafeBytes { bytes in Result { () throws(TapError) in try write(bytes) } }.get()
    }

    /// `receive` into an array: the frame fills its start.
    public func receive(into frame: inout [UInt8]) throws(TapError) -> (header: VirtioNetHeader?, length: Int)? {
        try frame.withUnsafeMutableBytes { bytes in Result { () throws(TapError) in try receive(into: bytes) } }.get()
    }

    /// `send` of an array.
    public func send(_ frame: [UInt8], header: VirtioNetHeader = VirtioNetHeader()) throws(TapError) -> Int? {
        try frame.withUnsafeBytes { bytes in Result { () throws(TapError) in try send(bytes, header: header) } }.get()
    }

    /// One read or write: retried on EINTR, nil on EAGAIN.
    private func transfer(_ call: SystemOperation, _ body: () -> Int) throws(TapError) -> Int? {
        while true {
            let count = body()
            if count >= 0 { return count }
            let error = Errno.current
            if error == .interrupted { continue }
            if error.rawValue == EAGAIN { return nil }
            throw .system(call, error)
        }
    }

    /// O_NONBLOCK on or off: reads and writes then return nil rather than wait.
    public func setNonBlocking(_ on: Bool) throws(TapError) {
        let system = descriptor.system
        let flags = system.fcntl(descriptor.rawValue, F_GETFL, 0)
        guard flags >= 0, system.fcntl(descriptor.rawValue, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) >= 0 else {
            throw .system(.nonBlocking, .current)
        }
    }
}

// The settings of the queue's device, through the queue: no capability is
// needed, and the device is the one the queue belongs to, not a name.
extension TapQueue {
    /// Replaces the device's offloads (TUNSETOFFLOAD) and returns those in
    /// force; see `TapControl.setOffloads` for the rules and errors.
    public func setOffloads(_ offloads: Offloads) throws(TapError) -> Offloads {
        let locator = DeviceLocator(system: descriptor.system)
        return try locator.inDeviceNamespace(of: descriptor, orAsItIs: true) { (device) throws(TapError) in
            try descriptor.applyOffloads(offloads, device: device)
        }
    }

    /// The device's virtio-net header size (TUNGETVNETHDRSZ).
    public func vnetHeaderSize() throws(TapError) -> Int {
        try Self.vnetHeaderSize(descriptor)
    }

    /// Sets the device's virtio-net header size (10, 12, 20 or 24); `headerSize`
    /// follows, on this queue and every queue that shares it.
    public func setVnetHeaderSize(_ size: Int) throws(TapError) {
        let size = try descriptor.applyVnetHeaderSize(size)
        if headerSize > 0 { shared.bytes.store(size, ordering: .relaxed) }
    }

    /// The queue's send buffer (TUNGETSNDBUF); INT_MAX is unlimited.
    public func sendBuffer() throws(TapError) -> Int {
        do {
            return try descriptor.sendBuffer()
        } catch {
            throw .system(.ioctl(.TUNGETSNDBUF), error)
        }
    }

    /// Sets the send buffer of the device's queues open now (TUNSETSNDBUF); returns it.
    public func setSendBuffer(_ bytes: Int) throws(TapError) -> Int {
        try descriptor.applySendBuffer(bytes)
    }

    /// Enables or disables this queue of a multiqueue device (TUNSETQUEUE); a
    /// detached queue stays open but carries no frames.
    public func setAttached(_ attached: Bool) throws(TapError) {
        try descriptor.applyQueue(attached: attached, device: DeviceLocator(system: descriptor.system).identify(descriptor).device)
    }

    /// Another queue of the same multiqueue device, with the same flags: for a
    /// process that holds the device and wants one more. The kernel's owner
    /// check applies; `TapError.notMultiQueue` for a single-queue device.
    ///
    /// /dev/net/tun attaches by name in the namespace it was opened in, so the
    /// queue is opened where the device is: here, or in the device's own
    /// namespace (entered, which needs CAP_SYS_ADMIN; `foreignNamespace`
    /// otherwise). Where the kernel will not say which namespace that is
    /// (TUNGETDEVNETNS needs CAP_NET_ADMIN over it), the new queue is attached
    /// by name here and then proven to be on this queue's device, or closed
    /// with `namespaceUnverified`.
    public func openAnother() throws(TapError) -> TapQueue {
        try DeviceLocator(system: descriptor.system).inDeviceNamespace(of: descriptor, orAsItIs: true) { (device) throws(TapError) in
            guard device.flags.contains(.multiQueue) else { throw .notMultiQueue(device.name, queues: 2) }
            switch device.namespace {
            case .current:
                return try attachAnother(device)
            case .other:
                throw .foreignNamespace(device.name, reason: .cannotEnter)
            case .unverified:
                let queue = try attachAnother(device)
                guard try isOnTheSameDevice(as: queue) else { throw .namespaceUnverified(device.name) }
                return queue
            }
        }
    }

    /// A queue attached by `device`'s name in the calling thread's namespace.
    private func attachAnother(_ device: DescriptorDevice) throws(TapError) -> TapQueue {
        let queue = try TapQueue(system: descriptor.system, sharing: shared)
        do {
            _ = try queue.descriptor.setInterface(device.name, flags: device.flags.subtracting([.detachQueue, .attachQueue, .persist]))
        } catch {
            switch error {
            case .notPermitted: throw .notPermitted(device.name, owner: nil, group: nil)
            case .argListTooLong: throw .tooManyQueues(device.name, queues: 257)
            default: throw .system(.ioctl(.TUNSETIFF), error)
            }
        }
        return queue
    }

    /// Whether `other` is a queue of this queue's device, asked of the devices
    /// themselves: the legacy little-endian header flag is device-wide, so
    /// flipping it through `other` shows through this queue only when both are
    /// one device. Each device's flag is put back at once. The flag changes
    /// nothing on a little-endian host, where legacy headers are little-endian
    /// anyway; on a big-endian one it would, for that moment.
    package func isOnTheSameDevice(as other: borrowing TapQueue) throws(TapError) -> Bool {
        do throws(Errno) {
            let ours = try descriptor.vnetLittleEndian(), theirs = try other.descriptor.vnetLittleEndian()
            try other.descriptor.setVnetLittleEndian(!ours)
            let seen = try descriptor.vnetLittleEndian()
            try other.descriptor.setVnetLittleEndian(theirs)
            return seen != ours
        } catch {
            throw .system(.compareDevices, error)
        }
    }
}

/// The header size the queues of one device share: a device-wide setting
/// read on every frame, so an atomic rather than a lock.
package final class SharedHeaderSize: Sendable {
    package let bytes: Atomic<Int>

    package init(_ bytes: Int) {
        self.bytes = Atomic(bytes)
    }
}
