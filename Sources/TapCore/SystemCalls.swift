import Glibc
import CTapShim

/// The system calls TapCore makes, as replaceable functions so tests can inject failures
/// (the idea of swift-system's mocking driver). Each follows the C convention: a negative
/// result with `errno` set. `SystemCalls.live` calls the kernel.
public struct SystemCalls: Sendable {
    public enum IoctlArgument {
        case pointer(UnsafeMutableRawPointer)
        case value(UInt)
    }

    public var open: @Sendable (_ path: UnsafePointer<CChar>, _ flags: CInt) -> CInt
    public var close: @Sendable (_ fd: CInt) -> CInt
    public var ioctl: @Sendable (_ fd: CInt, _ request: UInt, _ argument: IoctlArgument) -> CInt
    public var socket: @Sendable (_ domain: CInt, _ type: CInt, _ proto: CInt) -> CInt
    public var send: @Sendable (_ fd: CInt, _ buffer: UnsafeRawBufferPointer, _ flags: CInt) -> Int
    public var recv: @Sendable (_ fd: CInt, _ buffer: UnsafeMutableRawBufferPointer, _ flags: CInt) -> Int

    public init(
        open: @escaping @Sendable (UnsafePointer<CChar>, CInt) -> CInt,
        close: @escaping @Sendable (CInt) -> CInt,
        ioctl: @escaping @Sendable (CInt, UInt, IoctlArgument) -> CInt,
        socket: @escaping @Sendable (CInt, CInt, CInt) -> CInt,
        send: @escaping @Sendable (CInt, UnsafeRawBufferPointer, CInt) -> Int,
        recv: @escaping @Sendable (CInt, UnsafeMutableRawBufferPointer, CInt) -> Int
    ) {
        self.open = open
        self.close = close
        self.ioctl = ioctl
        self.socket = socket
        self.send = send
        self.recv = recv
    }

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
        send: { fd, buffer, flags in Glibc.send(fd, buffer.baseAddress, buffer.count, flags) },
        recv: { fd, buffer, flags in Glibc.recv(fd, buffer.baseAddress, buffer.count, flags) }
    )
}
