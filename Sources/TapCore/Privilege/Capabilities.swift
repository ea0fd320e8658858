import Glibc
import CTapShim
import SystemPackage
import TapSystem
import TapDataPath

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

/// Giving up privilege with libcap. libcap acts on the calling thread only:
/// a process that has started other threads keeps their capabilities, so a
/// caller drops before it starts any (tapctl has one thread).
public enum Capabilities {
    /// Empties the capability sets, in the only order that works: the bounding
    /// set (with `forExec`) while CAP_SETPCAP is still effective, then the
    /// ambient set, then (with `identity`) groups, gid and uid while CAP_SETGID
    /// and CAP_SETUID are, then effective, permitted and inheritable. After
    /// that the calling thread holds no capability. The bounding set only limits what
    /// a program executed later can regain (as uid 0, everything), so a command
    /// that executes nothing leaves it alone: emptying it takes system calls for
    /// every capability the kernel knows.
    /// `noNewPrivileges` also sets PR_SET_NO_NEW_PRIVS (setuid bits stop working).
    public static func dropAll(forExec: Bool = false, becoming identity: Identity? = nil,
                               noNewPrivileges: Bool = false, system: SystemCalls = .live) throws(TapError) {
        let privileges = system.privileges
        if forExec && privileges.isEffective(.setpcap) {
            guard privileges.emptyBoundingSet() == 0 else { throw .capabilities(.boundingSet, .current) }
        }
        guard privileges.emptyAmbientSet() == 0 else { throw .capabilities(.ambientSet, .current) }
        if let identity {
            let step = privileges.become(identity.uid, identity.gid, identity.groups)
            if step < 0 {
                let error = Errno.current
                guard error != .notPermitted else { throw .cannotBecome(uid: identity.uid, gid: identity.gid) }
                throw .capabilities(step == -1 ? .setgroups : step == -2 ? .setgid : .setuid, error)
            }
        }
        if noNewPrivileges, privileges.noNewPrivileges() != 0 {
            throw .capabilities(.noNewPrivileges, .current)
        }
        guard privileges.keepOnly([]) == 0 else { throw .capabilities(.emptying, .current) }
    }

    /// Whether `capability` is in the calling thread's effective set; false when it cannot be read.
    public static func hasEffective(_ capability: Capability, system: SystemCalls = .live) -> Bool {
        system.privileges.isEffective(capability)
    }
}
