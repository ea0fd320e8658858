import Glibc
import CTapShim
import CLibcap

/// Privileged-helper mode: tapctl installed setuid root or with the file
/// capability cap_net_admin, run by a user who has neither.
public enum PrivilegedHelper {
    /// The kernel sets AT_SECURE when exec gave the process privilege its real
    /// user lacks (setuid, setgid, file capabilities).
    public static var isActive: Bool { ctap_secure_exec() != 0 }

    /// Becomes the real user, before anything else, with CAP_NET_ADMIN in the
    /// permitted set and nothing effective: the gate raises it for the calls
    /// that need it (`Gate`), so everything else, attaching to an existing
    /// device above all, runs as the user. A setuid-root install also keeps
    /// CAP_SYS_ADMIN permitted, which the gate raises only to make a device in
    /// a private network namespace and come back; a cap_net_admin install has
    /// none to keep.
    public static func enter() throws(TapError) {
        let uid = getuid()
        if geteuid() != uid {
            guard ctap_keep_capabilities(1) == 0, setuid(uid) == 0, geteuid() == uid, ctap_keep_capabilities(0) == 0 else {
                throw .capabilities("becoming uid \(uid)", .current)
            }
        }
        if getegid() != getgid() && setgid(getgid()) != 0 { throw .capabilities("setgid", .current) }
        if cap_get_ambient(CAP_CHOWN) >= 0, cap_reset_ambient() != 0 { throw .capabilities("ambient set", .current) }
        guard let set = cap_init() else { throw .capabilities("cap_init", .current) }
        defer { cap_free(UnsafeMutableRawPointer(set)) }
        var kept = [CAP_NET_ADMIN] + (permitted(CAP_SYS_ADMIN) ? [CAP_SYS_ADMIN] : [])
        guard cap_set_flag(set, CAP_PERMITTED, CInt(kept.count), &kept, CAP_SET) == 0,
              cap_set_proc(set) == 0 else { throw .capabilities("keeping CAP_NET_ADMIN alone", .current) }
    }

    private static func permitted(_ capability: cap_value_t) -> Bool {
        guard let current = cap_get_proc() else { return false }
        defer { cap_free(UnsafeMutableRawPointer(current)) }
        var value = CAP_CLEAR
        return cap_get_flag(current, capability, CAP_PERMITTED, &value) == 0 && value == CAP_SET
    }

    /// The real user and the groups rules may name: every supplementary group,
    /// however many (getgroups(0) sizes the list). A list that cannot be read
    /// is an error, never "no groups": that would skip a `deny group:` rule.
    public static func caller() throws(TapError) -> (uid: uid_t, groups: [gid_t]) {
        // The count can grow between the two calls only by another thread's setgroups; ask again then.
        for _ in 0..<3 {
            let size = getgroups(0, nil)
            guard size >= 0 else { break }
            var groups = [gid_t](repeating: 0, count: Int(size))
            let count = getgroups(size, &groups)
            if count >= 0 { return (getuid(), [getgid()] + groups.prefix(Int(count))) }
            guard errno == EINVAL else { break }
        }
        throw .system("getgroups", .current)
    }
}

/// What the access list allows one caller: TapControl consults it, when set,
/// at each point where it acts for someone else. Names are checked as the
/// kernel resolves them (a template's result, not the template), ownership is
/// the kernel's own attach check, and a device is changed only through a queue
/// of it that tapctl holds.
public struct HelperPolicy: Sendable {
    /// The access list in force.
    public var rules: AccessList
    /// The real user the helper acts for.
    public var uid: uid_t
    /// That user's gids, primary first: what group: rules match.
    public var groups: [gid_t]

    /// The policy of `rules` for the user `uid`, a member of `groups`.
    public init(rules: AccessList, uid: uid_t, groups: [gid_t]) {
        self.rules = rules
        self.uid = uid
        self.groups = groups
    }

    /// The access list in force for the real user of this process.
    public static func load() throws(TapError) -> HelperPolicy {
        let (uid, groups) = try PrivilegedHelper.caller()
        return HelperPolicy(rules: try AccessList.load(), uid: uid, groups: groups)
    }

    /// The access list's limits.
    public var limits: AccessList.Limits { rules.limits }

    func device(_ name: String) throws(TapError) {
        guard rules.allows(.device, name, user: uid, groups: groups) else {
            throw .accessDenied(name, "\(AccessList.path) does not allow uid \(uid) this device")
        }
    }

    func bridge(_ name: String) throws(TapError) {
        guard rules.allows(.bridge, name, user: uid, groups: groups) else {
            throw .accessDenied(name, "\(AccessList.path) does not allow uid \(uid) this bridge")
        }
    }

    /// The kernel's attach rule for a device tapctl already holds a queue of:
    /// an inherited descriptor may come from another user.
    func owns(_ link: TunLink) throws(TapError) {
        let mine = (link.owner.map { $0 == uid } ?? true) && (link.group.map { groups.contains($0) } ?? true)
        guard mine else {
            throw .accessDenied(link.name, "it belongs to " + (link.owner.map { "uid \($0)" } ?? "group \(link.group ?? 0)")
                                + ", not uid \(uid)")
        }
    }

    /// A new device is the caller's, in one of the caller's groups at most.
    func checkOwnership(_ request: CreateRequest) throws(TapError) {
        switch request.owner {
        case .none:
            throw .accessDenied(nil, "in privileged-helper mode a new device always has an owner: you")
        case .user(let owner) where owner != uid:
            throw .accessDenied(nil, "in privileged-helper mode only you (uid \(uid)) can own what tapctl makes")
        default:
            break
        }
        if let group = request.group, !groups.contains(group) {
            throw .accessDenied(nil, "you are not in group \(group)")
        }
    }

    func checkQueues(_ queues: Int, device: String) throws(TapError) {
        guard queues <= limits.queues else {
            throw .accessDenied(device, "\(queues) queues are more than the \(limits.queues) \(AccessList.path) allows one device")
        }
    }

    func checkTxQueueLength(_ length: UInt32, device: String?) throws(TapError) {
        guard length <= limits.txQueueLength else {
            throw .accessDenied(device, "txqueuelen \(length) is more than the \(limits.txQueueLength) \(AccessList.path) allows")
        }
    }
}
