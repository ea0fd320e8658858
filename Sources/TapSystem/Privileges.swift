import Glibc
import CLibcap
import CTapShim
import SystemPackage

/// The capabilities the libraries name, without libcap's constants (which a
/// program that imports only the libraries cannot name).
public enum Capability: Sendable, CaseIterable {
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

/// libcap and the identity calls, each one step of giving up or using
/// privilege, on the calling thread: the part of `SystemCalls` that tests
/// substitute to run the privilege code without privilege. Each follows the C
/// convention (a negative result with errno set) unless it says otherwise.
public struct PrivilegeCalls: Sendable {
    /// Whether `capability` is in the calling thread's effective set; false when it cannot be read.
    public var isEffective: @Sendable (_ capability: Capability) -> Bool
    /// Whether `capability` is in the calling thread's permitted set.
    public var isPermitted: @Sendable (_ capability: Capability) -> Bool
    /// Raises (true) or lowers (false) `capability` in the effective set.
    /// Declared for the privilege gate alone: only a file that imports this
    /// module with `@_spi(Gate)` sees it, and the layering tests allow one.
    @_spi(Gate) public var setEffective: @Sendable (_ capability: Capability, _ on: Bool) -> CInt
    /// Empties the bounding set (what a program executed later can regain).
    public var emptyBoundingSet: @Sendable () -> CInt
    /// Empties the ambient set; succeeds where the kernel has none (before 4.3).
    public var emptyAmbientSet: @Sendable () -> CInt
    /// setgroups, setgid and setuid, each checked by reading the ids back:
    /// 0, or the negative number of the step that failed (-1, -2, -3) with errno set.
    public var become: @Sendable (_ uid: uid_t, _ gid: gid_t, _ groups: [gid_t]) -> CInt
    /// PR_SET_NO_NEW_PRIVS: setuid bits and file capabilities stop working for what runs next.
    public var noNewPrivileges: @Sendable () -> CInt
    /// Replaces every set with `permitted` alone (empty: no capability at all).
    public var keepOnly: @Sendable (_ permitted: [Capability]) -> CInt
    /// Gives up setuid root's effective uid for the real one, keeping the
    /// permitted capabilities across the change (PR_SET_KEEPCAPS), and a
    /// setgid's effective gid.
    public var becomeRealUser: @Sendable () -> CInt
    /// AT_SECURE: exec gave this process privilege its real user lacks.
    public var secureExec: @Sendable () -> Bool

    /// libcap's, on the calling thread.
    public static let live = PrivilegeCalls(
        isEffective: { flag($0, CAP_EFFECTIVE) },
        isPermitted: { flag($0, CAP_PERMITTED) },
        setEffective: { capability, on in
            guard let current = cap_get_proc() else { return -1 }
            defer { cap_free(UnsafeMutableRawPointer(current)) }
            var value = [capability.value]
            guard cap_set_flag(current, CAP_EFFECTIVE, 1, &value, on ? CAP_SET : CAP_CLEAR) == 0 else { return -1 }
            return cap_set_proc(current)
        },
        emptyBoundingSet: {
            for capability in 0..<cap_value_t(cap_max_bits()) where cap_get_bound(capability) >= 0 {
                guard cap_drop_bound(capability) == 0 else { return -1 }
            }
            return 0
        },
        emptyAmbientSet: {
            // cap_get_ambient fails on kernels without ambient capabilities.
            cap_get_ambient(CAP_CHOWN) >= 0 ? cap_reset_ambient() : 0
        },
        become: { uid, gid, groups in
            guard groups.withUnsafeBufferPointer({ setgroups($0.count, $0.baseAddress) }) == 0 else { return -1 }
            // With CAP_SETGID and CAP_SETUID these set the real, effective and saved ids.
            guard setgid(gid) == 0, getgid() == gid, getegid() == gid else { return -2 }
            guard setuid(uid) == 0, getuid() == uid, geteuid() == uid else { return -3 }
            return 0
        },
        noNewPrivileges: { ctap_set_no_new_privs() },
        keepOnly: { permitted in
            guard let set = cap_init() else { return -1 }
            defer { cap_free(UnsafeMutableRawPointer(set)) }
            var values = permitted.map(\.value)
            guard values.isEmpty || cap_set_flag(set, CAP_PERMITTED, CInt(values.count), &values, CAP_SET) == 0 else { return -1 }
            return cap_set_proc(set)
        },
        becomeRealUser: {
            let uid = getuid()
            if geteuid() != uid {
                guard ctap_keep_capabilities(1) == 0, setuid(uid) == 0, geteuid() == uid,
                      ctap_keep_capabilities(0) == 0 else { return -1 }
            }
            return getegid() != getgid() ? setgid(getgid()) : 0
        },
        secureExec: { ctap_secure_exec() != 0 }
    )
}

private func flag(_ capability: Capability, _ set: cap_flag_t) -> Bool {
    guard let current = cap_get_proc() else { return false }
    defer { cap_free(UnsafeMutableRawPointer(current)) }
    var value = CAP_CLEAR
    return cap_get_flag(current, capability.value, set, &value) == 0 && value == CAP_SET
}
