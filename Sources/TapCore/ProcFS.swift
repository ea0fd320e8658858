import Glibc

/// Small reads from /proc, where a process may vanish between two calls: every
/// failure is "no answer", never an error.
enum ProcFS {
    static func read(_ path: String) -> String? {
        try? TextFile.read(path)
    }

    static func link(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The names in a directory, without "." and "..".
    static func entries(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

/// Which processes hold tun/tap queues, from /proc/PID/fd and the "iff:" line of
/// /proc/PID/fdinfo. Only processes whose network namespace is ours are counted,
/// since fdinfo names the device but not its namespace; without CAP_SYS_PTRACE
/// only the caller's own processes are visible. tapctl itself is left out: the
/// descriptors it holds are temporary or inherited from a process that is listed.
public enum Holders {
    public static func scan() -> [String: [Holder]] {
        let ownNamespace = ProcFS.link("/proc/self/ns/net")
        let ownPID = getpid()
        var result: [String: [Holder]] = [:]
        for entry in ProcFS.entries("/proc") {
            guard let pid = Int32(entry), pid != ownPID else { continue }
            let base = "/proc/\(entry)"
            if let namespace = ProcFS.link(base + "/ns/net"), namespace != ownNamespace { continue }
            var command: String?
            for fdName in ProcFS.entries(base + "/fd") {
                guard let fd = Int32(fdName), ProcFS.link("\(base)/fd/\(fdName)") == "/dev/net/tun",
                      let info = ProcFS.read("\(base)/fdinfo/\(fdName)"),
                      let device = interfaceName(fromFdinfo: info)
                else { continue }
                if command == nil {
                    command = ProcFS.read(base + "/comm").map { String($0.prefix { $0 != "\n" }) } ?? "?"
                }
                result[device, default: []].append(Holder(pid: pid, command: command ?? "?", fd: fd))
            }
        }
        return result
    }

    /// The device name on fdinfo's "iff:\t" line; nil for a descriptor attached to nothing.
    static func interfaceName(fromFdinfo text: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix("iff:\t") {
            let name = line.dropFirst(5)
            return name.isEmpty ? nil : String(name)
        }
        return nil
    }
}
