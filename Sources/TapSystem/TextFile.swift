import Glibc
import SystemPackage

/// Whole small files read as text: /proc entries, the access list, batch files.
public enum TextFile {
    /// The whole file at `path`, opened read-only and close-on-exec; throws the errno of open or read.
    public static func read(_ path: String, system: SystemCalls = .live) throws(Errno) -> String {
        let fd = try retryingEINTR { system.open(path, O_RDONLY | O_CLOEXEC) }
        defer { _ = system.close(fd) }
        return try read(descriptor: fd, system: system)
    }

    /// Reads `fd` to its end, leaving it open (standard input, for one).
    public static func read(descriptor fd: CInt, system: SystemCalls = .live) throws(Errno) -> String {
        String(decoding: try bytes(descriptor: fd, system: system), as: UTF8.self)
    }

    /// The bytes of `fd` to its end, leaving it open.
    public static func bytes(descriptor fd: CInt, system: SystemCalls = .live) throws(Errno) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = try retryingEINTR { chunk.withUnsafeMutableBytes { system.read(fd, $0) } }
            if count == 0 { return bytes }
            bytes += chunk[..<count]
        }
    }
}
