import Glibc
import SystemPackage
import TapSystem
import TapDataPath

/// Small reads from /proc, where a process may vanish between two calls: every
/// failure is "no answer", never an error.
struct ProcFS {
    let system: SystemCalls

    func read(_ path: String) -> String? {
        try? TextFile.read(path, system: system)
    }

    func link(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        let count = buffer.withUnsafeMutableBufferPointer { system.readlinkat(AT_FDCWD, path, $0) }
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The names in a directory, without "." and ".."; none when it cannot be read.
    func entries(_ path: String) -> [String] {
        guard let fd = try? retryingEINTR({ system.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }) else { return [] }
        defer { _ = system.close(fd) }
        return entries(descriptor: fd)
    }

    /// The names in the directory open as `fd`, which stays open.
    func entries(descriptor fd: CInt) -> [String] {
        system.directoryEntries(fd) ?? []
    }
}

/// Which processes hold tun/tap queues, from /proc/PID/fd and the "iff:" line of
/// /proc/PID/fdinfo. Only processes whose network namespace is ours are counted,
/// since fdinfo names the device but not its namespace; without CAP_SYS_PTRACE
/// only the caller's own processes are visible.
enum Holders {
    /// Every holder of every device. `excludingSelf` leaves this process out,
    /// for a scan made while it holds a temporary queue of its own.
    /// `expected`, when known, is how many queues the devices have in all: the
    /// scan stops once it has found them.
    static func scan(excludingSelf: Bool = false, expecting expected: Int? = nil, system: SystemCalls) -> HolderTable {
        let proc = ProcFS(system: system)
        let ownNamespace = proc.link("/proc/self/ns/net")
        let ownPID = system.processID()
        var result = HolderTable()
        var found = 0
        // Reused for every descriptor: the scan reads one link per descriptor on
        // the host, tens of thousands on a busy one.
        var target = [CChar](repeating: 0, count: tunPath.count + 1)
        for entry in proc.entries("/proc") {
            if let expected, found >= expected { break }
            guard let pid = Int32(entry), !excludingSelf || pid != ownPID else { continue }
            let base = "/proc/\(entry)"
            if let namespace = proc.link(base + "/ns/net"), namespace != ownNamespace { continue }
            let directory = system.open(base + "/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard directory >= 0 else { continue }
            defer { _ = system.close(directory) }
            var command: String?
            for fdName in proc.entries(descriptor: directory) {
                // Only "/dev/net/tun" matters: a link read into a buffer one byte
                // longer, compared as bytes, without a String for every descriptor.
                let count = target.withUnsafeMutableBufferPointer { system.readlinkat(directory, fdName, $0) }
                guard count == tunPath.count, target.prefix(count).elementsEqual(tunPath, by: { UInt8(bitPattern: $0) == $1 }),
                      let fd = Int32(fdName), let info = proc.read("\(base)/fdinfo/\(fdName)"),
                      let device = interfaceName(fromFdinfo: info)
                else { continue }
                if command == nil {
                    command = proc.read(base + "/comm").map { String($0.prefix { $0 != "\n" }) } ?? "?"
                }
                result.append(Holder(pid: pid, command: command ?? "?", fd: fd), to: device)
                found += 1
            }
        }
        return result
    }

    private static let tunPath = Array("/dev/net/tun".utf8)

    /// The device name on fdinfo's "iff:\t" line; nil for a descriptor attached to nothing.
    static func interfaceName(fromFdinfo text: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix("iff:\t") {
            let name = line.dropFirst(5)
            return name.isEmpty ? nil : String(name)
        }
        return nil
    }
}

/// Holders by device name, the name as bytes: the kernel's names are bytes,
/// and two names that Swift's String calls equal (NFC and NFD) are two devices.
struct HolderTable {
    private var byName: [NameBytes: [Holder]] = [:]

    subscript(_ name: String) -> [Holder]? { byName[NameBytes(name)] }

    /// No holder of any device.
    var isEmpty: Bool { byName.isEmpty }

    mutating func append(_ holder: Holder, to name: String) {
        byName[NameBytes(name), default: []].append(holder)
    }
}
