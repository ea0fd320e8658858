import Glibc
import SystemPackage
import TapSystem
import TapDataPath

/// The rules of privileged-helper mode, from the access list: which users may
/// act on which device names and bridges, and the limits on what they may ask
/// for. One rule a line:
///
///     allow|deny  user:NAME|user:UID|group:NAME|group:GID|all  device|bridge  PATTERN
///     limit       queues|txqueuelen|devices  N
///
/// PATTERN is a shell pattern (fnmatch). A deny that matches wins over any
/// allow; nothing matching means no. '#' starts a comment.
public struct AccessList: Equatable, Sendable {
    /// Whom a rule applies to: a uid, the members of a gid, or every user.
    public enum Subject: Equatable, Sendable {
        case user(uid_t)
        case group(gid_t)
        case all
    }

    /// What a rule's pattern names: a device or a bridge.
    public enum Object: String, Equatable, Sendable {
        case device, bridge
    }

    /// One allow or deny line.
    public struct Rule: Equatable, Sendable {
        /// allow, or false for deny.
        public var allow: Bool
        /// user:, group: or all, names resolved to ids when the list was parsed.
        public var subject: Subject
        /// device or bridge.
        public var object: Object
        /// The shell pattern (fnmatch) a name must match.
        public var pattern: String
    }

    /// What one user may ask of the helper, so that no user can pin an
    /// unbounded amount of kernel memory (each queue holds a ring of
    /// txqueuelen packets).
    public struct Limits: Equatable, Sendable {
        /// Queues that one `exec` or `send` opens.
        public var queues = 16
        /// The largest transmit queue length `create` and `set` may give.
        public var txQueueLength: UInt32 = 10000
        /// Devices owned by one user in a network namespace.
        public var devices = 16

        /// The defaults: 16 queues, txqueuelen 10000, 16 devices.
        public init() {}
    }

    /// The allow and deny lines, in file order (order does not matter: a deny wins).
    public var rules: [Rule]
    /// The limit lines; the defaults for those not given.
    public var limits = Limits()

    /// Parses the file's bytes. Lines are split on the byte '\n'; a carriage
    /// return anywhere is an error naming the line, never part of a word (a
    /// deny saved with CRLF line endings would otherwise match nothing).
    public init(parsing bytes: [UInt8]) throws(TapError) {
        rules = []
        var limitsSet: Set<String> = []
        for (offset, raw) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            func malformed(_ why: AccessListSyntax) -> TapError { .accessListMalformed(line: offset + 1, why) }
            if raw.contains(UInt8(ascii: "\r")) {
                throw malformed(.carriageReturn)
            }
            let line = raw.prefix { $0 != UInt8(ascii: "#") }
            let words = line.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
                .map { String(decoding: $0, as: UTF8.self) }
            guard let first = words.first else { continue }
            if first == "limit" {
                guard words.count == 3 else { throw malformed(.limitWords) }
                guard !limitsSet.contains(words[1]) else { throw malformed(.limitTwice(words[1])) }
                limitsSet.insert(words[1])
                let value = Accounts.numericID(words[2])
                switch (words[1], value) {
                case ("queues", let n?) where (1...256).contains(n): limits.queues = Int(n)
                case ("txqueuelen", let n?): limits.txQueueLength = n
                case ("devices", let n?): limits.devices = Int(n)
                case ("queues", _), ("txqueuelen", _), ("devices", _):
                    throw malformed(.limitValue(limit: words[1], value: words[2]))
                default:
                    throw malformed(.unknownLimit(words[1]))
                }
                continue
            }
            guard words.count == 4 else { throw malformed(.ruleWords) }
            guard first == "allow" || first == "deny" else { throw malformed(.unknownVerb(first)) }
            let subject: Subject
            if words[1] == "all" {
                subject = .all
            } else if words[1].hasPrefix("user:") {
                do { subject = .user(try Accounts.userID(String(words[1].dropFirst(5)))) } catch { throw malformed(.noUser(String(words[1].dropFirst(5)))) }
            } else if words[1].hasPrefix("group:") {
                do { subject = .group(try Accounts.groupID(String(words[1].dropFirst(6)))) } catch { throw malformed(.noGroup(String(words[1].dropFirst(6)))) }
            } else {
                throw malformed(.unknownSubject(words[1]))
            }
            guard let object = Object(rawValue: words[2]) else { throw malformed(.unknownObject(words[2])) }
            rules.append(Rule(allow: first == "allow", subject: subject, object: object, pattern: words[3]))
        }
    }

    /// Parses `text` as its UTF-8 bytes. Throws `TapError.accessListMalformed`.
    public init(parsing text: String) throws(TapError) {
        try self.init(parsing: Array(text.utf8))
    }

    /// The list in force. It is trusted only as root keeps it: a regular file
    /// owned by root and writable by nobody else, in directories owned by root
    /// and writable by nobody else, every one opened without following a
    /// symbolic link. Anything else, or no file, allows nothing.
    public static func load(_ path: String, system: SystemCalls = .live) throws(TapError) -> AccessList {
        let fd = try openTrusted(path, system: system)
        defer { _ = system.close(fd) }
        let bytes: [UInt8]
        do {
            bytes = try TextFile.bytes(descriptor: fd, system: system)
        } catch {
            throw .accessListMissing(error)
        }
        return try AccessList(parsing: bytes)
    }

    /// Walks `path` from "/" with openat and O_NOFOLLOW, checking each step
    /// on the descriptor it opened, so no step can be swapped after its check.
    private static func openTrusted(_ path: String, system: SystemCalls) throws(TapError) -> CInt {
        var components = path.split(separator: "/").map(String.init)
        let file = components.removeLast()
        var directory = try openChecked(AT_FDCWD, "/", shown: "/", directory: true, system: system)
        var shown = ""
        for component in components {
            shown += "/" + component
            let next: CInt
            do {
                next = try openChecked(directory, component, shown: shown, directory: true, system: system)
            } catch {
                _ = system.close(directory)
                throw error
            }
            _ = system.close(directory)
            directory = next
        }
        defer { _ = system.close(directory) }
        return try openChecked(directory, file, shown: path, directory: false, system: system)
    }

    private static func openChecked(_ parent: CInt, _ name: String, shown: String, directory: Bool,
                                    system: SystemCalls) throws(TapError) -> CInt {
        // O_NONBLOCK: a FIFO put in the file's place must not hang the helper.
        let flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | (directory ? O_DIRECTORY : 0)
        let fd: CInt
        do {
            fd = try retryingEINTR { system.openat(parent, name, flags) }
        } catch {
            switch error {
            case .tooManySymbolicLinkLevels: throw .accessListInsecure(shown, .symbolicLink)
            case .notDirectory: throw .accessListInsecure(shown, .notDirectory)
            default: throw .accessListMissing(error)
            }
        }
        var status = stat()
        guard system.fstat(fd, &status) == 0 else {
            let error = Errno.current
            _ = system.close(fd)
            throw .accessListMissing(error)
        }
        let problem: AccessListFlaw? = if !directory && status.st_mode & S_IFMT != S_IFREG {
            .notRegularFile
        } else if status.st_uid != 0 {
            .notOwnedByRoot(uid: status.st_uid)
        } else if status.st_mode & 0o022 != 0 {
            .writable(byEveryone: status.st_mode & 0o002 != 0, mode: status.st_mode & 0o7777)
        } else {
            nil
        }
        if let problem {
            _ = system.close(fd)
            throw .accessListInsecure(shown, problem)
        }
        return fd
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
