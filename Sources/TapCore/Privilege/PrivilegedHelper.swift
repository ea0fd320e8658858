import Glibc
import CTapShim
import CLibcap
import SystemPackage
import TapSystem
import TapDataPath

/// Privileged-helper mode: tapctl installed setuid root or with the file
/// capability cap_net_admin, run by a user who has neither.
public enum PrivilegedHelper {
    /// The kernel sets AT_SECURE when exec gave the process privilege its real
    /// user lacks (setuid, setgid, file capabilities).
    public static func isActive(system: SystemCalls = .live) -> Bool { system.privileges.secureExec() }

    /// Becomes the real user, before anything else, with CAP_NET_ADMIN in the
    /// permitted set and nothing effective: the gate raises it for the calls
    /// that need it (`Gate`), so everything else, attaching to an existing
    /// device above all, runs as the user. A setuid-root install also keeps
    /// CAP_SYS_ADMIN permitted, which the gate raises only to make a device in
    /// a private network namespace and come back; a cap_net_admin install has
    /// none to keep. libcap acts on the calling thread: call this while the
    /// process has one.
    public static func enter(system: SystemCalls = .live) throws(TapError) {
        let privileges = system.privileges
        guard privileges.becomeRealUser() == 0 else { throw .capabilities(.becomingRealUser, .current) }
        guard privileges.emptyAmbientSet() == 0 else { throw .capabilities(.ambientSet, .current) }
        let kept: [Capability] = [.netAdmin] + (privileges.isPermitted(.sysAdmin) ? [.sysAdmin] : [])
        guard privileges.keepOnly(kept) == 0 else { throw .capabilities(.keepingNetAdmin, .current) }
    }

    /// The real user and the groups rules may name: every supplementary group,
    /// however many (getgroups(0) sizes the list). A list that cannot be read
    /// is an error, never "no groups": that would skip a `deny group:` rule.
    public static func caller(system: SystemCalls = .live) throws(TapError) -> (uid: uid_t, groups: [gid_t]) {
        let ids = system.ids()
        // The count can grow between the two calls only by another thread's setgroups; ask again then.
        for _ in 0..<3 {
            let size = system.getgroups(UnsafeMutableBufferPointer(start: nil, count: 0))
            guard size >= 0 else { break }
            var groups = [gid_t](repeating: 0, count: Int(size))
            let count = groups.withUnsafeMutableBufferPointer { system.getgroups($0) }
            if count >= 0 { return (ids.uid, [ids.gid] + groups.prefix(Int(count))) }
            guard Errno.current == .invalidArgument else { break }
        }
        throw .system(.getgroups, .current)
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

    /// The access list at `path`, in force for the real user of this process.
    public static func load(from path: String, system: SystemCalls = .live) throws(TapError) -> HelperPolicy {
        let (uid, groups) = try PrivilegedHelper.caller(system: system)
        return HelperPolicy(rules: try AccessList.load(path, system: system), uid: uid, groups: groups)
    }

    /// The access list's limits.
    public var limits: AccessList.Limits { rules.limits }

    func device(_ name: String) throws(TapError) {
        guard rules.allows(.device, name, user: uid, groups: groups) else {
            throw .accessDenied(name, .deviceNotAllowed(uid: uid))
        }
    }

    func bridge(_ name: String) throws(TapError) {
        guard rules.allows(.bridge, name, user: uid, groups: groups) else {
            throw .accessDenied(name, .bridgeNotAllowed(uid: uid))
        }
    }

    /// The kernel's attach rule for a device tapctl already holds a queue of:
    /// an inherited descriptor may come from another user.
    func owns(_ link: TunLink) throws(TapError) {
        let mine = (link.owner.map { $0 == uid } ?? true) && (link.group.map { groups.contains($0) } ?? true)
        guard mine else {
            throw .accessDenied(link.name, .notYours(owner: link.owner, group: link.group, caller: uid))
        }
    }

    /// A new device is the caller's, in one of the caller's groups at most.
    func checkOwnership(_ request: CreateRequest) throws(TapError) {
        switch request.owner {
        case .none:
            throw .accessDenied(nil, .ownerRequired)
        case .user(let owner) where owner != uid:
            throw .accessDenied(nil, .ownerNotCaller(uid: uid))
        default:
            break
        }
        if let group = request.group, !groups.contains(group) {
            throw .accessDenied(nil, .notInGroup(group))
        }
    }

    func checkQueues(_ queues: Int, device: String) throws(TapError) {
        guard queues <= limits.queues else {
            throw .accessDenied(device, .queueLimit(queues: queues, allowed: limits.queues))
        }
    }

    func checkTxQueueLength(_ length: UInt32, device: String?) throws(TapError) {
        guard length <= limits.txQueueLength else {
            throw .accessDenied(device, .txQueueLengthLimit(length, allowed: limits.txQueueLength))
        }
    }
}
