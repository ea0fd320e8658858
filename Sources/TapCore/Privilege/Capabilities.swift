import Glibc
import CLibcap
import CTapShim

/// A user to become before handing descriptors to a program.
public struct Identity: Equatable, Sendable {
    /// The uid to take: real, effective and saved.
    public var uid: uid_t
    /// The primary gid to take: real, effective and saved.
    public var gid: gid_t
    /// Supplementary groups.
    public var groups: [gid_t]

    /// An identity from its ids.
    public init(uid: uid_t, gid: gid_t, groups: [gid_t]) {
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }
}

/// Giving up privilege with libcap. cap_set_proc acts on the calling thread only;
/// tapctl has one thread.
public enum Capabilities {
    /// Empties the capability sets, in the only order that works: the bounding
    /// set (with `forExec`) while CAP_SETPCAP is still effective, then the
    /// ambient set, then (with `identity`) groups, gid and uid while CAP_SETGID
    /// and CAP_SETUID are, then effective, permitted and inheritable. After
    /// that the process holds no capability. The bounding set only limits what
    /// a program executed later can regain (as uid 0, everything), so a command
    /// that executes nothing leaves it alone: emptying it takes system calls for
    /// every capability the kernel knows.
    /// `noNewPrivileges` also sets PR_SET_NO_NEW_PRIVS (setuid bits stop working).
    public static func dropAll(forExec: Bool = false, becoming identity: Identity? = nil,
                               noNewPrivileges: Bool = false) throws(TapError) {
        if forExec && hasEffective(CAP_SETPCAP) {
            for capability in 0..<cap_value_t(cap_max_bits()) where cap_get_bound(capability) >= 0 {
                guard cap_drop_bound(capability) == 0 else { throw .capabilities("bounding set", .current) }
            }
        }
        // cap_get_ambient fails on kernels without ambient capabilities (before 4.3).
        if cap_get_ambient(CAP_CHOWN) >= 0, cap_reset_ambient() != 0 {
            throw .capabilities("ambient set", .current)
        }
        if let identity {
            func failed(_ step: String) -> TapError {
                let error = Errno.current
                return error == .EPERM ? .cannotBecome(uid: identity.uid, gid: identity.gid) : .capabilities(step, error)
            }
            guard identity.groups.withUnsafeBufferPointer({ setgroups($0.count, $0.baseAddress) }) == 0 else {
                throw failed("setgroups")
            }
            // With CAP_SETGID and CAP_SETUID these set the real, effective and saved ids.
            guard setgid(identity.gid) == 0, getgid() == identity.gid, getegid() == identity.gid else {
                throw failed("setgid")
            }
            guard setuid(identity.uid) == 0, getuid() == identity.uid, geteuid() == identity.uid else {
                throw failed("setuid")
            }
        }
        if noNewPrivileges, ctap_set_no_new_privs() != 0 {
            throw .capabilities("PR_SET_NO_NEW_PRIVS", .current)
        }
        guard let empty = cap_init() else { throw .capabilities("cap_init", .current) }
        defer { cap_free(UnsafeMutableRawPointer(empty)) }
        guard cap_set_proc(empty) == 0 else { throw .capabilities("cap_set_proc", .current) }
    }

    /// The capabilities a VMM using TapCore asks about, without libcap's
    /// constants (which a program that imports only TapCore cannot name).
    public enum Capability: Sendable {
        /// CAP_NET_ADMIN: making devices, and attaching to any.
        case netAdmin
        /// CAP_SYS_ADMIN: entering and making network namespaces.
        case sysAdmin
        /// CAP_SETPCAP: emptying the bounding set.
        case setpcap

        var value: cap_value_t {
            switch self {
            case .netAdmin: CAP_NET_ADMIN
            case .sysAdmin: CAP_SYS_ADMIN
            case .setpcap: CAP_SETPCAP
            }
        }
    }

    /// Whether `capability` is in the calling thread's effective set; false when it cannot be read.
    public static func hasEffective(_ capability: Capability) -> Bool {
        hasEffective(capability.value)
    }

    /// Whether `capability` (libcap's number) is in the calling thread's effective set.
    public static func hasEffective(_ capability: cap_value_t) -> Bool {
        guard let current = cap_get_proc() else { return false }
        defer { cap_free(UnsafeMutableRawPointer(current)) }
        var value = CAP_CLEAR
        return cap_get_flag(current, capability, CAP_EFFECTIVE, &value) == 0 && value == CAP_SET
    }
}
