import Glibc
import CTapShim
import SystemPackage
import TapSystem
import TapDataPath

extension Handoff {
    /// The header of the message `send` writes: one line of JSON. The message
    /// carries the descriptors in one SCM_RIGHTS control message, queues first.
    public var header: String {
        JSON.object([("version", .int(1)), ("ifname", .string(name)), ("tap_fds", .int(Int64(tapFDs.count))),
                     ("vhost_fds", .int(Int64(vhostFDs.count)))]).text + "\n"
    }

    /// Passes the descriptors over the Unix stream or seqpacket socket at `path`,
    /// then waits up to `timeout` milliseconds for the receiver to close the
    /// connection or answer. A receiver that closes without reading is reported
    /// (the kernel resets the connection when unread data is dropped).
    public func send(to path: String, timeout: CInt) throws(TapError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard !pathBytes.isEmpty, pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw .socketPath(path)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: pathBytes) }
        let socket = try connect(&address, path: path)
        defer { _ = system.close(socket) }
        let payload = Array(header.utf8)
        let sent: Int
        do {
            sent = try passDescriptors(tapFDs + vhostFDs, with: payload, over: socket, system: system)
        } catch {
            throw error == .brokenPipe || error == .connectionReset ? .peerClosed(path) : .system(.sendmsg, error)
        }
        guard sent == payload.count else { throw .peerClosed(path) }
        let ready: CInt
        do {
            ready = try retryingEINTR { system.poll(socket, Int16(POLLIN), timeout) }
        } catch {
            throw .system(.poll, error)
        }
        guard ready > 0 else { throw .peerSilent(path, milliseconds: timeout) }
        var answer = [UInt8](repeating: 0, count: 256)
        do {
            _ = try retryingEINTR { answer.withUnsafeMutableBytes { system.recv(socket, $0, CInt(MSG_DONTWAIT)) } }
        } catch {
            throw error == .connectionReset ? .peerClosed(path) : .system(.recv, error)
        }
    }

    /// A connected socket: stream first, seqpacket when the listener is one.
    private func connect(_ address: inout sockaddr_un, path: String) throws(TapError) -> CInt {
        for type in [SOCK_STREAM, SOCK_SEQPACKET] {
            let socket: CInt
            do {
                socket = try retryingEINTR { system.socket(AF_UNIX, CInt(type.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0) }
            } catch {
                throw .system(.socket, error)
            }
            var error: Errno
            repeat {
                let status = withUnsafeBytes(of: &address) { system.connect(socket, UnsafeRawBufferPointer(rebasing: $0[...])) }
                error = status == 0 ? .socketIsConnected : .current
            } while error == .interrupted
            // Connected now, or by the interrupted call (then the retry says EISCONN).
            if error == .socketIsConnected { return socket }
            _ = system.close(socket)
            switch error {
            case .protocolWrongTypeForSocket: continue
            case .noSuchFileOrDirectory: throw .socketMissing(path)
            case .connectionRefused:
                // The kernel says the same for a file that is no socket at all.
                var status = stat()
                if system.stat(path, &status, false) == 0, status.st_mode & S_IFMT != S_IFSOCK { throw .notASocketFile(path) }
                throw .socketRefused(path)
            default: throw .system(.connect(path: path), error)
            }
        }
        throw .system(.connect(path: path), .protocolWrongTypeForSocket)
    }
}

/// One sendmsg of `payload` with `fds` in a single SCM_RIGHTS control message;
/// MSG_NOSIGNAL, so a closed peer is EPIPE rather than a signal.
func passDescriptors(_ fds: [CInt], with payload: [UInt8], over socket: CInt, system: SystemCalls) throws(Errno) -> Int {
    guard !fds.isEmpty, !payload.isEmpty else { throw .invalidArgument }
    // struct cmsghdr {size_t len; int level; int type;} then the descriptors, at CMSG_DATA.
    let length = ctap_cmsg_len(fds.count * MemoryLayout<CInt>.size)
    var control: [UInt8] = []
    control.appendNative(length)
    control.appendNative(SOL_SOCKET)
    control.appendNative(CInt(SCM_RIGHTS))
    control += [UInt8](repeating: 0, count: ctap_cmsg_len(0) - control.count)
    for fd in fds { control.appendNative(fd) }
    control += [UInt8](repeating: 0, count: ctap_cmsg_space(fds.count * MemoryLayout<CInt>.size) - control.count)
    var payload = payload
    return try retryingEINTR {
        payload.withUnsafeMutableBytes { payloadBytes in
            control.withUnsafeMutableBytes { controlBytes in
                var vector = iovec(iov_base: payloadBytes.baseAddress, iov_len: payloadBytes.count)
                return withUnsafeMutablePointer(to: &vector) { vector in
                    var message = msghdr(msg_name: nil, msg_namelen: 0, msg_iov: vector, msg_iovlen: 1,
                                         msg_control: controlBytes.baseAddress, msg_controllen: controlBytes.count,
                                         msg_flags: 0)
                    return system.sendmsg(socket, &message, CInt(MSG_NOSIGNAL))
                }
            }
        }
    }
}
