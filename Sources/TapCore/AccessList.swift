import Glibc
import CTapShim
import CLibcap

/// The rules of privileged-helper mode, from /etc/tapctl/acl: which users may
/// act on which device names and bridges. One rule a line:
///
///     allow|deny  user:NAME|user:UID|group:NAME|group:GID|all  device|bridge  PATTERN
///
/// PATTERN is a shell pattern (fnmatch). A deny that matches wins over any
/// allow; nothing matching means no. '#' starts a comment.
public struct AccessList: Equatable, Sendable {
    public static let path = "/etc/tapctl/acl"

    public enum Subject: Equatable, Sendable {
        case user(uid_t)
        case group(gid_t)
        case all
    }

    public enum Object: String, Equatable, Sendable {
        case device, bridge
    }

    public struct Rule: Equatable, Sendable {
        public var allow: Bool
        public var subject: Subject
        public var object: Object
        public var pattern: String
    }

    public var rules: [Rule]

    public init(parsing text: String) throws(TapError) {
        rules = []
        for (offset, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.prefix { $0 != "#" }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard !words.isEmpty else { continue }
            func malformed(_ why: String) -> TapError { .accessListMalformed(line: offset + 1, why) }
            guard words.count == 4 else { throw malformed("a rule has four words: allow|deny WHO device|bridge PATTERN") }
            guard words[0] == "allow" || words[0] == "deny" else { throw malformed("'\(words[0])' is not allow or deny") }
            let subject: Subject
            if words[1] == "all" {
                subject = .all
            } else if words[1].hasPrefix("user:") {
                do { subject = .user(try Accounts.userID(String(words[1].dropFirst(5)))) } catch { throw malformed("no user '\(words[1].dropFirst(5))'") }
            } else if words[1].hasPrefix("group:") {
                do { subject = .group(try Accounts.groupID(String(words[1].dropFirst(6)))) } catch { throw malformed("no group '\(words[1].dropFirst(6))'") }
            } else {
                throw malformed("'\(words[1])' is not user:NAME, group:NAME or all")
            }
            guard let object = Object(rawValue: words[2]) else { throw malformed("'\(words[2])' is not device or bridge") }
            rules.append(Rule(allow: words[0] == "allow", subject: subject, object: object, pattern: words[3]))
        }
    }

    /// The list in force; no file means nothing is allowed.
    public static func load() throws(TapError) -> AccessList {
        let text: String
        do {
            text = try TextFile.read(path)
        } catch {
            throw .accessListMissing(error)
        }
        return try AccessList(parsing: text)
    }

    /// Whether `user` (with `groups`) may act on the device or bridge `name`.
    public func allows(_ object: Object, _ name: String, user: uid_t, groups: [gid_t]) -> Bool {
        var allowed = false
        for rule in rules where rule.object == object && fnmatch(rule.pattern, name, 0) == 0 {
            let applies = switch rule.subject {
            case .all: true
            case .user(let uid): uid == user
            case .group(let gid): groups.contains(gid)
            }
            guard applies else { continue }
            if !rule.allow { return false }
            allowed = true
        }
        return allowed
    }
}

/// Privileged-helper mode: tapctl installed setuid root or with the file
/// capability cap_net_admin, run by a user who has neither.
public enum PrivilegedHelper {
    /// The kernel sets AT_SECURE when exec gave the process privilege its real
    /// user lacks (setuid, setgid, file capabilities).
    public static var isActive: Bool { ctap_secure_exec() != 0 }

    /// Becomes the real user, keeping CAP_NET_ADMIN alone (effective and
    /// permitted): every other capability goes at once, before anything else.
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
        var netAdmin = [CAP_NET_ADMIN]
        guard cap_set_flag(set, CAP_PERMITTED, 1, &netAdmin, CAP_SET) == 0,
              cap_set_flag(set, CAP_EFFECTIVE, 1, &netAdmin, CAP_SET) == 0,
              cap_set_proc(set) == 0 else { throw .capabilities("keeping CAP_NET_ADMIN alone", .current) }
    }

    /// The real user and the groups rules may name.
    public static var caller: (uid: uid_t, groups: [gid_t]) {
        var groups = [gid_t](repeating: 0, count: 256)
        let count = getgroups(256, &groups)
        return (getuid(), [getgid()] + groups.prefix(Int(max(count, 0))))
    }
}
