import Glibc
import CTapShim
import SystemPackage
import TapSystem
import TapDataPath

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
            throw error == .noSuchFileOrDirectory ? .noNamespace(name, path: path) : .system(.open(path: path), error)
        }
        defer { _ = system.close(fd) }
        guard system.setNetworkNamespace(fd) == 0 else {
            let error = Errno.current
            switch error {
            case .invalidArgument: throw .notANamespace(path)
            case .notPermitted: throw .namespacePermission(name)
            default: throw .system(.enterNamespace(path: path), error)
            }
        }
    }
}
