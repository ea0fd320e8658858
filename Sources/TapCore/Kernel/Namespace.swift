import Glibc
import CTapShim

/// Entering another network namespace, as `ip -n` does. It must come before
/// /dev/net/tun is opened: a tun descriptor's namespace is fixed at open.
public enum NetworkNamespace {
    /// "vm1" means /run/netns/vm1 (made by `ip netns add`); anything with a '/'
    /// is a namespace file such as /proc/PID/ns/net.
    public static func path(for name: String) -> String {
        name.contains("/") ? name : "/run/netns/" + name
    }

    /// Moves the calling thread (tapctl has one) into the namespace; needs
    /// CAP_SYS_ADMIN.
    public static func enter(_ name: String, system: SystemCalls = .live) throws(TapError) {
        let path = path(for: name)
        let fd: CInt
        do {
            fd = try retryingEINTR { system.open(path, O_RDONLY | O_CLOEXEC) }
        } catch {
            throw error == .ENOENT ? .noNamespace(name, path: path) : .system("opening \(path)", error)
        }
        defer { _ = system.close(fd) }
        guard ctap_setns_net(fd) == 0 else {
            let error = Errno.current
            switch error {
            case .EINVAL: throw .notANamespace(path)
            case .EPERM: throw .namespacePermission(name)
            default: throw .system("setns \(path)", error)
            }
        }
    }
}
