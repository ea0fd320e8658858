import Glibc
import CTapShim

import SystemPackage

/// The system calls the libraries make, as replaceable functions so tests can inject
/// failures (the idea of swift-system's mocking driver): start from `.live` and
/// replace what the test is about. Each follows the C convention: a negative
/// result with `errno` set.
public struct SystemCalls: Sendable {
    /// ioctl's third argument: each request takes a pointer or an integer by value.
    public enum IoctlArgument {
        /// A pointer to the argument: a struct ifreq, an int to read or write.
        case pointer(UnsafeMutableRawPointer)
        /// An integer by value (TUNSETPERSIST, TUNSETOWNER, TUNSETGROUP, TUNSETOFFLOAD).
        case value(UInt)
    }

    /// open(2): the new descriptor.
    public var open: @Sendable (_ path: UnsafePointer<CChar>, _ flags: CInt) -> CInt
    /// close(2).
    public var close: @Sendable (_ fd: CInt) -> CInt
    /// ioctl(2), the argument by pointer or by value as the request takes it.
    public var ioctl: @Sendable (_ fd: CInt, _ request: UInt, _ argument: IoctlArgument) -> CInt
    /// socket(2): the netlink, ethtool and Unix sockets.
    public var socket: @Sendable (_ domain: CInt, _ type: CInt, _ proto: CInt) -> CInt
    /// connect(2), the address as the bytes of a struct sockaddr (a sockaddr_un for `send`).
    public var connect: @Sendable (_ fd: CInt, _ address: UnsafeRawBufferPointer) -> CInt
    /// send(2): netlink requests.
    public var send: @Sendable (_ fd: CInt, _ buffer: UnsafeRawBufferPointer, _ flags: CInt) -> Int
    /// sendmsg(2): descriptors passed in an SCM_RIGHTS control message.
    public var sendmsg: @Sendable (_ fd: CInt, _ message: UnsafePointer<msghdr>, _ flags: CInt) -> Int
    /// recvmsg(2): a handoff's descriptors, in an SCM_RIGHTS control message.
    public var recvmsg: @Sendable (_ fd: CInt, _ message: UnsafeMutablePointer<msghdr>, _ flags: CInt) -> Int
    /// recv(2): netlink replies, and a receiver's answer to a handoff.
    public var recv: @Sendable (_ fd: CInt, _ buffer: UnsafeMutableRawBufferPointer, _ flags: CInt) -> Int
    /// poll(2) on one descriptor: how many are ready, 0 when `milliseconds` passed first.
    public var poll: @Sendable (_ fd: CInt, _ events: Int16, _ milliseconds: CInt) -> CInt
    /// fcntl with an integer argument (F_GETFD, F_SETFD, F_DUPFD_CLOEXEC).
    public var fcntl: @Sendable (_ fd: CInt, _ command: CInt, _ argument: CInt) -> CInt
    /// dup2(2): handed-over descriptors moved to the numbers a program expects.
    public var dup2: @Sendable (_ fd: CInt, _ target: CInt) -> CInt
    /// A frame in or out of a queue: read and write, readv and writev.
    public var read: @Sendable (_ fd: CInt, _ buffer: UnsafeMutableRawBufferPointer) -> Int
    /// write(2): one frame.
    public var write: @Sendable (_ fd: CInt, _ buffer: UnsafeRawBufferPointer) -> Int
    /// readv(2): one frame over several buffers (header, then frame).
    public var readv: @Sendable (_ fd: CInt, _ vectors: UnsafeBufferPointer<iovec>) -> Int
    /// writev(2): one frame from several buffers.
    public var writev: @Sendable (_ fd: CInt, _ vectors: UnsafeBufferPointer<iovec>) -> Int
    /// libcap and the identity calls.
    public var privileges: PrivilegeCalls
    /// openat(2): the access list, walked from "/" one component at a time, and /proc/PID/fd.
    public var openat: @Sendable (_ directory: CInt, _ path: UnsafePointer<CChar>, _ flags: CInt) -> CInt
    /// fstat(2): what the access list's walk opened.
    public var fstat: @Sendable (_ fd: CInt, _ status: UnsafeMutablePointer<stat>) -> CInt
    /// stat(2) (`follow`) or lstat(2): /dev/net/tun's mode, what sits at a socket path.
    public var stat: @Sendable (_ path: UnsafePointer<CChar>, _ status: UnsafeMutablePointer<stat>, _ follow: Bool) -> CInt
    /// readlinkat(2) (AT_FDCWD for a path): /proc's links. The length read; never terminated.
    public var readlinkat: @Sendable (_ directory: CInt, _ path: UnsafePointer<CChar>, _ buffer: UnsafeMutableBufferPointer<CChar>) -> Int
    /// The names in the directory open as `fd` (which stays open), without "." and ".."; nil when unreadable.
    public var directoryEntries: @Sendable (_ fd: CInt) -> [String]?
    /// uname(2)'s release: the running kernel.
    public var kernelRelease: @Sendable () -> String
    /// getpid(2).
    public var processID: @Sendable () -> pid_t
    /// The real and effective user and group ids (getuid, geteuid, getgid, getegid).
    public var ids: @Sendable () -> (uid: uid_t, euid: uid_t, gid: gid_t, egid: gid_t)
    /// getgroups(2): with an empty buffer, how many supplementary groups there are.
    public var getgroups: @Sendable (_ buffer: UnsafeMutableBufferPointer<gid_t>) -> CInt
    /// unshare(CLONE_NEWNET): a new, empty network namespace for the calling thread.
    public var unshareNetworkNamespace: @Sendable () -> CInt
    /// setns(2) into the network namespace `fd` refers to, for the calling thread.
    public var setNetworkNamespace: @Sendable (_ fd: CInt) -> CInt
    /// Whether `fd` (a namespace descriptor) is the calling thread's network
    /// namespace: the same inode of the nsfs, as `ip netns identify` compares.
    public var isCurrentNetworkNamespace: @Sendable (_ fd: CInt) -> Bool

    /// The real calls: Glibc, the ioctl and fcntl wrappers of CTapShim, and libcap.
    public static let live = SystemCalls(
        open: { path, flags in Glibc.open(path, flags) },
        close: { fd in Glibc.close(fd) },
        ioctl: { fd, request, argument in
            switch argument {
            case .pointer(let pointer): return ctap_ioctl_pointer(fd, request, pointer)
            case .value(let value): return ctap_ioctl_value(fd, request, value)
            }
        },
        socket: { domain, type, proto in Glibc.socket(domain, type, proto) },
        connect: { fd, address in
            Glibc.connect(fd, address.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(address.count))
        },
        send: { fd, buffer, flags in Glibc.send(fd, buffer.baseAddress, buffer.count, flags) },
        sendmsg: { fd, message, flags in Glibc.sendmsg(fd, message, flags) },
        recvmsg: { fd, message, flags in Glibc.recvmsg(fd, message, flags) },
        recv: { fd, buffer, flags in Glibc.recv(fd, buffer.baseAddress, buffer.count, flags) },
        poll: { fd, events, milliseconds in
            var entry = pollfd(fd: fd, events: events, revents: 0)
            return Glibc.poll(&entry, 1, milliseconds)
        },
        fcntl: { fd, command, argument in ctap_fcntl_int(fd, command, argument) },
        dup2: { fd, target in Glibc.dup2(fd, target) },
        read: { fd, buffer in Glibc.read(fd, buffer.baseAddress, buffer.count) },
        write: { fd, buffer in Glibc.write(fd, buffer.baseAddress, buffer.count) },
        readv: { fd, vectors in Glibc.readv(fd, vectors.baseAddress, CInt(vectors.count)) },
        writev: { fd, vectors in Glibc.writev(fd, vectors.baseAddress, CInt(vectors.count)) },
        privileges: .live,
        openat: { directory, path, flags in Glibc.openat(directory, path, flags) },
        fstat: { fd, status in Glibc.fstat(fd, status) },
        stat: { path, status, follow in follow ? statPath(path, status) : lstat(path, status) },
        readlinkat: { directory, path, buffer in
            guard let base = buffer.baseAddress else { return 0 }
            return Glibc.readlinkat(directory, path, base, buffer.count)
        },
        directoryEntries: { fd in
            let copy = Glibc.dup(fd)
            guard copy >= 0 else { return nil }
            guard let directory = fdopendir(copy) else {
                Glibc.close(copy)
                return nil
            }
            defer { closedir(directory) }
            var names: [String] = []
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name != "." && name != ".." { names.append(name) }
            }
            return names
        },
        kernelRelease: {
            var names = utsname()
            guard uname(&names) == 0 else { return "unknown" }
            return withUnsafeBytes(of: names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        },
        processID: { getpid() },
        ids: { (getuid(), geteuid(), getgid(), getegid()) },
        getgroups: { buffer in Glibc.getgroups(CInt(buffer.count), buffer.baseAddress) },
        unshareNetworkNamespace: { ctap_unshare_net() },
        setNetworkNamespace: { fd in ctap_setns_net(fd) },
        isCurrentNetworkNamespace: { fd in
            var theirs = Glibc.stat(), ours = Glibc.stat()
            return Glibc.fstat(fd, &theirs) == 0 && statPath("/proc/thread-self/ns/net", &ours) == 0
                && theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino
        }
    )
}

// Outside SystemCalls, where the member `stat` hides the function.
private func statPath(_ path: UnsafePointer<CChar>, _ status: UnsafeMutablePointer<stat>) -> CInt {
    stat(path, status)
}
