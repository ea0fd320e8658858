import Glibc
import SystemPackage

// swift-system's Errno is the libraries' error code. What it leaves to the
// platform: reading the calling thread's errno across targets, and the
// Linux-only codes the tun driver answers with.
extension Errno {
    /// The calling thread's errno, right after a call that failed.
    package static var current: Errno {
        get { Errno(rawValue: Glibc.errno) }
        set { Glibc.errno = newValue.rawValue }
    }

    /// EBADFD, "file descriptor in bad state": TUNGETIFF on a /dev/net/tun
    /// descriptor attached to no device. Linux only, so swift-system has no name for it.
    public static var badFileDescriptorState: Errno { Errno(rawValue: Glibc.EBADFD) }
}

/// Runs a C-convention call, retrying while it fails with EINTR.
@inline(__always)
package func retryingEINTR<T: BinaryInteger>(_ body: () -> T) throws(Errno) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let error = Errno.current
        if error != .interrupted { throw error }
    }
}
