import Glibc
@testable import TapCore

/// A kernel stand-in: records every call and fails the ones it is told to.
final class FakeKernel: @unchecked Sendable {
    var calls: [String] = []
    var failures: [String: [Errno]] = [:]
    var closed: [CInt] = []
    /// Paths opened, in order; each open gets the next number from 100.
    var opened: [String] = []
    /// Descriptors the fake process already has open.
    var openDescriptors: Set<CInt> = [0, 1, 2]
    var duplicated: [(CInt, CInt)] = []
    private var nextHigh: CInt = 200

    static let names: [UInt: String] = [
        0x400454ca: "TUNSETIFF", 0x400454cb: "TUNSETPERSIST", 0x400454cc: "TUNSETOWNER",
        0x400454ce: "TUNSETGROUP", 0x800454d2: "TUNGETIFF",
    ]

    private func outcome(_ name: String) -> CInt {
        calls.append(name)
        guard var queue = failures[name], !queue.isEmpty else { return 0 }
        Errno.current = queue.removeFirst()
        failures[name] = queue
        return -1
    }

    var system: SystemCalls {
        var system = SystemCalls.live
        system.open = { path, _ in
            guard self.outcome("open") == 0 else { return -1 }
            self.opened.append(String(cString: path))
            return 99 + CInt(self.opened.count)
        }
        system.fcntl = { fd, command, argument in
            switch command {
            case F_GETFD:
                if self.openDescriptors.contains(fd) { return 0 }
                Errno.current = .EBADF
                return -1
            case F_DUPFD_CLOEXEC:
                self.nextHigh += 1
                return max(self.nextHigh, argument)
            default: return 0
            }
        }
        system.dup2 = { fd, target in
            self.duplicated.append((fd, target))
            return target
        }
        system.close = { fd in self.closed.append(fd); return 0 }
        system.ioctl = { _, request, _ in self.outcome(Self.names[request] ?? "ioctl \(request)") }
        system.socket = { _, _, _ in self.outcome("socket") }
        return system
    }
}

