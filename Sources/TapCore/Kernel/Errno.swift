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

    public static let EPERM = Errno(rawValue: Glibc.EPERM)
    public static let ENOENT = Errno(rawValue: Glibc.ENOENT)
    public static let EINTR = Errno(rawValue: Glibc.EINTR)
    public static let EIO = Errno(rawValue: Glibc.EIO)
    public static let E2BIG = Errno(rawValue: Glibc.E2BIG)
    public static let EBADF = Errno(rawValue: Glibc.EBADF)
    public static let ENOMEM = Errno(rawValue: Glibc.ENOMEM)
    public static let EACCES = Errno(rawValue: Glibc.EACCES)
    public static let EBUSY = Errno(rawValue: Glibc.EBUSY)
    public static let ENODEV = Errno(rawValue: Glibc.ENODEV)
    public static let ENXIO = Errno(rawValue: Glibc.ENXIO)
    public static let EINVAL = Errno(rawValue: Glibc.EINVAL)
    public static let EMFILE = Errno(rawValue: Glibc.EMFILE)
    public static let ENOTTY = Errno(rawValue: Glibc.ENOTTY)
    public static let EBADFD = Errno(rawValue: Glibc.EBADFD)
    public static let EOPNOTSUPP = Errno(rawValue: Glibc.EOPNOTSUPP)
    public static let EPIPE = Errno(rawValue: Glibc.EPIPE)
    public static let ECONNRESET = Errno(rawValue: Glibc.ECONNRESET)
    public static let ECONNREFUSED = Errno(rawValue: Glibc.ECONNREFUSED)
    public static let EPROTOTYPE = Errno(rawValue: Glibc.EPROTOTYPE)
    public static let ENOTSOCK = Errno(rawValue: Glibc.ENOTSOCK)
    public static let EISCONN = Errno(rawValue: Glibc.EISCONN)
    public static let ELOOP = Errno(rawValue: Glibc.ELOOP)
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
