import Glibc

/// A typed errno value, as swift-system spells it, without the Foundation dependency.
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: CInt
    public init(rawValue: CInt) { self.rawValue = rawValue }

    /// The calling thread's errno.
    public static var current: Errno {
        get { Errno(rawValue: Glibc.errno) }
        set { Glibc.errno = newValue.rawValue }
    }

    /// EPERM: operation not permitted.
    public static let EPERM = Errno(rawValue: Glibc.EPERM)
    /// ENOENT: no such file or directory.
    public static let ENOENT = Errno(rawValue: Glibc.ENOENT)
    /// EINTR: interrupted system call; TapCore retries the call.
    public static let EINTR = Errno(rawValue: Glibc.EINTR)
    /// EIO: input/output error; TapCore also reports a malformed netlink reply with it.
    public static let EIO = Errno(rawValue: Glibc.EIO)
    /// E2BIG: argument list too long; TUNSETIFF says it when a device has its 256 queues.
    public static let E2BIG = Errno(rawValue: Glibc.E2BIG)
    /// EBADF: bad file descriptor (not open).
    public static let EBADF = Errno(rawValue: Glibc.EBADF)
    /// ENOMEM: cannot allocate memory.
    public static let ENOMEM = Errno(rawValue: Glibc.ENOMEM)
    /// EACCES: permission denied.
    public static let EACCES = Errno(rawValue: Glibc.EACCES)
    /// EBUSY: device or resource busy; TUNSETIFF on a held single-queue device, or with IFF_TUN_EXCL on any.
    public static let EBUSY = Errno(rawValue: Glibc.EBUSY)
    /// File exists: a name taken (a device moved into a namespace that has one).
    public static let EEXIST = Errno(rawValue: Glibc.EEXIST)
    /// Illegal byte sequence: a device name that is not UTF-8.
    public static let EILSEQ = Errno(rawValue: Glibc.EILSEQ)
    /// ENODEV: no such device.
    public static let ENODEV = Errno(rawValue: Glibc.ENODEV)
    /// ENXIO: no such device or address.
    public static let ENXIO = Errno(rawValue: Glibc.ENXIO)
    /// EINVAL: invalid argument.
    public static let EINVAL = Errno(rawValue: Glibc.EINVAL)
    /// EMFILE: too many open files.
    public static let EMFILE = Errno(rawValue: Glibc.EMFILE)
    /// ENOTTY: inappropriate ioctl for device (a TUN ioctl on another kind of descriptor).
    public static let ENOTTY = Errno(rawValue: Glibc.ENOTTY)
    /// EBADFD: file descriptor in bad state; TUNGETIFF on a tun descriptor attached to no device.
    public static let EBADFD = Errno(rawValue: Glibc.EBADFD)
    /// EOPNOTSUPP: operation not supported.
    public static let EOPNOTSUPP = Errno(rawValue: Glibc.EOPNOTSUPP)
    /// EPIPE: broken pipe; a send (MSG_NOSIGNAL) to a peer that closed.
    public static let EPIPE = Errno(rawValue: Glibc.EPIPE)
    /// ECONNRESET: connection reset by peer.
    public static let ECONNRESET = Errno(rawValue: Glibc.ECONNRESET)
    /// ECONNREFUSED: connection refused; nothing listens on the socket.
    public static let ECONNREFUSED = Errno(rawValue: Glibc.ECONNREFUSED)
    /// EPROTOTYPE: protocol wrong type for socket (a stream socket to a seqpacket listener).
    public static let EPROTOTYPE = Errno(rawValue: Glibc.EPROTOTYPE)
    /// ENOTSOCK: socket operation on a descriptor that is no socket.
    public static let ENOTSOCK = Errno(rawValue: Glibc.ENOTSOCK)
    /// EISCONN: transport endpoint is already connected.
    public static let EISCONN = Errno(rawValue: Glibc.EISCONN)
    /// ELOOP: too many levels of symbolic links; O_NOFOLLOW met a symbolic link.
    public static let ELOOP = Errno(rawValue: Glibc.ELOOP)
    /// ENOTDIR: not a directory.
    public static let ENOTDIR = Errno(rawValue: Glibc.ENOTDIR)

    /// The C library's sentence for this error, e.g. "Device or resource busy".
    public var description: String { String(cString: strerror(rawValue)) }
}

/// Runs a C-convention call, retrying while it fails with EINTR.
@inline(__always)
func retryingEINTR<T: BinaryInteger>(_ body: () -> T) throws(Errno) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let error = Errno.current
        if error != .EINTR { throw error }
    }
}
