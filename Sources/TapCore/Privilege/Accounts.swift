import Glibc
import SystemPackage
import TapSystem
import TapDataPath

/// Users and groups by name or number, through the C library (and so NSS).
public enum Accounts {
    /// A name, or a decimal id. (uid_t)-1 means "unset" to the kernel and is refused.
    public static func userID(_ text: String) throws(TapError) -> uid_t {
        if let id = numericID(text) { return id }
        guard let id = lookup({ getpwnam_r(text, $0, $1, $2, $3) }, { $0.pw_uid }) else { throw .unknownUser(text) }
        return id
    }

    /// A name, or a decimal id. (gid_t)-1 means "unset" to the kernel and is refused.
    public static func groupID(_ text: String) throws(TapError) -> gid_t {
        if let id = numericID(text) { return id }
        guard let id = lookup({ getgrnam_r(text, $0, $1, $2, $3) }, { $0.gr_gid }) else { throw .unknownGroup(text) }
        return id
    }

    /// The name of `uid` (getpwuid_r), or nil when it has none.
    public static func userName(_ uid: uid_t) -> String? {
        lookup({ getpwuid_r(uid, $0, $1, $2, $3) }, { String(cString: $0.pw_name) })
    }

    /// The name of `gid` (getgrgid_r), or nil when it has none.
    public static func groupName(_ gid: gid_t) -> String? {
        lookup({ getgrgid_r(gid, $0, $1, $2, $3) }, { String(cString: $0.gr_name) })
    }

    static func numericID(_ text: String) -> UInt32? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let id = UInt32(text), id != UInt32.max else { return nil }
        return id
    }

    /// Calls a getXXX_r function, growing its buffer on ERANGE.
    static func lookup<Entry, Result>(
        _ call: (UnsafeMutablePointer<Entry>, UnsafeMutablePointer<CChar>, Int,
                 UnsafeMutablePointer<UnsafeMutablePointer<Entry>?>) -> CInt,
        _ extract: (Entry) -> Result
    ) -> Result? {
        var size = 1024
        while size <= 1 << 20 {
            let entry = UnsafeMutablePointer<Entry>.allocate(capacity: 1)
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: size)
            var found: UnsafeMutablePointer<Entry>?
            defer {
                entry.deallocate()
                buffer.deallocate()
            }
            let status = call(entry, buffer, size, &found)
            if status == ERANGE {
                size *= 4
                continue
            }
            guard status == 0, let found else { return nil }
            return extract(found.pointee)
        }
        return nil
    }
}

extension Accounts {
    /// The identity `--user`/`--group` describe: the user's uid, the group (or
    /// the user's primary group), and the user's supplementary groups when it
    /// has a passwd entry. A group alone keeps the caller's uid.
    public static func identity(user: String?, group: String?) throws(TapError) -> Identity? {
        guard user != nil || group != nil else { return nil }
        let gid = try group.map { (text) throws(TapError) in try groupID(text) }
        guard let user else {
            let gid = gid ?? getegid()
            return Identity(uid: geteuid(), gid: gid, groups: [gid])
        }
        let uid = try userID(user)
        guard let entry = lookup({ getpwuid_r(uid, $0, $1, $2, $3) }, { (String(cString: $0.pw_name), $0.pw_gid) }) else {
            let gid = gid ?? gid_t(uid)
            return Identity(uid: uid, gid: gid, groups: [gid])
        }
        let primary = gid ?? entry.1
        var count: CInt = 64
        var groups = [gid_t](repeating: 0, count: Int(count))
        while getgrouplist(entry.0, primary, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
        }
        return Identity(uid: uid, gid: primary, groups: Array(groups.prefix(Int(count))))
    }
}
