/// A process holding a tun/tap queue open.
public struct Holder: Hashable, Sendable {
    /// The process id.
    public let pid: Int32
    /// Its name, from /proc/PID/comm ("?" when unreadable).
    public let command: String
    /// The descriptor, in that process, of its /dev/net/tun queue.
    public let fd: Int32

    /// A holder from its pid, command and descriptor.
    public init(pid: Int32, command: String, fd: Int32) {
        self.pid = pid
        self.command = command
        self.fd = fd
    }
}

/// A process and the queues of one device it holds.
public struct HoldingProcess: Equatable, Sendable {
    /// The process id.
    public let pid: Int32
    /// Its name, from /proc/PID/comm.
    public let command: String
    /// Its descriptors of the device's queues, in the order found.
    public let fds: [Int32]
}

extension Array where Element == Holder {
    /// One entry per process, in the order first seen, with its descriptors.
    public var byProcess: [HoldingProcess] {
        var order: [Int32] = []
        var fds: [Int32: [Int32]] = [:]
        var commands: [Int32: String] = [:]
        for holder in self {
            if fds[holder.pid] == nil { order.append(holder.pid) }
            fds[holder.pid, default: []].append(holder.fd)
            commands[holder.pid] = holder.command
        }
        return order.map { HoldingProcess(pid: $0, command: commands[$0] ?? "?", fds: fds[$0] ?? []) }
    }
}

extension HoldingProcess {
    /// "4242 (qemu-system-x86, fd 31)", or "(sleep, 4 queues)" for several.
    public var described: String {
        "\(pid) (\(command), " + (fds.count == 1 ? "fd \(fds[0])" : "\(fds.count) queues") + ")"
    }
}

/// Every failure TapCore reports, with the kernel's reason already decoded.
/// `message` is a phrase for after "tapctl: <command> <device>: ".
public enum TapError: Error, Equatable, Sendable {
    /// `InterfaceName` refused a name: the text and what is wrong with it.
    case invalidName(String, InterfaceName.Problem)
    /// Opening /dev/net/tun failed: missing (ENOENT), no driver (ENODEV, ENXIO), no permission.
    case tunUnavailable(Errno)
    /// `create`: TUNSETIFF with IFF_TUN_EXCL said EBUSY, so a device of that name exists.
    case alreadyExists(String)
    /// `create` under `existOK`: the existing device is not the one asked for, and how.
    case existsDifferently(String, differences: [String])
    /// No device of that name in this namespace.
    case notFound(String)
    /// The device is not tun/tap; `kind` is its IFLA_INFO_KIND, if any.
    case notTunTap(String, kind: String?)
    /// A process holds a queue of the device, which tapctl leaves alone: the holders /proc shows (maybe none).
    case inUse(String, holders: [Holder])
    /// `create`: a multiqueue device gained a stranger's queue before TUNSETOWNER, so it was deleted.
    case intruder(String, holders: [Holder])
    /// Creating a device: TUNSETIFF said EPERM, for want of CAP_NET_ADMIN.
    case needsNetAdmin(String)
    /// Attaching a queue, or TUNSETQUEUE, said EPERM: not the owner or in the group, and no CAP_NET_ADMIN.
    case notPermitted(String, owner: UInt32?, group: UInt32?)
    /// The descriptor is not open (EBADF).
    case notOpen(fd: CInt)
    /// The descriptor is not /dev/net/tun: TUNGETIFF said ENOTTY, EINVAL or EOPNOTSUPP.
    case notTunDescriptor(fd: CInt)
    /// A /dev/net/tun descriptor attached to no device: TUNGETIFF said EBADFD.
    case unattachedDescriptor(fd: CInt)
    /// No user of that name.
    case unknownUser(String)
    /// No group of that name.
    case unknownGroup(String)
    /// TUNSETOWNER or TUNSETGROUP said EINVAL: the id has no mapping in this user namespace.
    case unmappedID(String)
    /// Giving up or raising privilege failed: the step (setuid, cap_set_proc...) and its errno.
    case capabilities(String, Errno)
    /// An offload list that does not parse, or a set that breaks a kernel rule; found before TUNSETOFFLOAD.
    case offloadProblem(Offloads.Problem)
    /// A text that is no unicast, non-zero MAC address.
    case invalidMAC(MACAddress.Problem)
    /// TUNSETOFFLOAD said EINVAL to a valid set: the offloads refused, and the set kept (nil if unknown).
    case offloadsRefused(String, refused: [String], kept: Offloads?)
    /// TUNSETQUEUE said EINVAL: the queue is attached or detached already, or the device is not multiqueue.
    case queueRefused(fd: CInt, String)
    /// More than one queue asked of a single-queue device.
    case notMultiQueue(String, queues: Int)
    /// TUNSETIFF said E2BIG: the queues, detached ones included, would pass 256.
    case tooManyQueues(String, queues: Int)
    /// Opening /dev/vhost-net failed.
    case vhostUnavailable(Errno)
    /// `Handoff.place`: a number in the range is open already (inherited) and would be overwritten.
    case descriptorTaken(fd: CInt)
    /// A setting out of range or in conflict, a bad declaration, a malformed virtio-net header: the phrase says.
    case invalidSetting(String)
    /// The access list cannot be opened or read: privileged-helper mode allows nothing.
    case accessListMissing(Errno)
    /// A line of the access list does not parse: privileged-helper mode allows nothing.
    case accessListMalformed(line: Int, String)
    /// The access list, or a directory above it, is not kept as root keeps it.
    case accessListInsecure(String, String)
    /// Refused by privileged-helper mode's rules: the device, if one is named, and why.
    case accessDenied(String?, String)
    /// `apply`: what differs cannot change in place (the mode, say), or not
    /// while the device is in use.
    case cannotChangeInPlace(String, differences: [String], inUse: Bool = false)
    /// The device behind a name is not the one that was read (deleted and
    /// made again, or renamed, meanwhile): nothing was changed.
    case identityChanged(String)
    /// The device behind a descriptor is in another network namespace than the
    /// caller's, where its name may be another device, and tapctl cannot act
    /// there (`reason`).
    case foreignNamespace(String, reason: ForeignNamespaceReason)
    /// The device behind the descriptor no longer had the index the settings
    /// went to when tapctl looked again after applying them (it moved to
    /// another namespace meanwhile): `applied` went to that index.
    case movedWhileActing(String, applied: [String])
    /// `--bridge NAME`: there is no device of that name (yet: at boot, bridges may come after taps).
    case noSuchBridge(String)
    /// `TapQueue.receive`: a frame longer than the `capacity`-byte buffer came,
    /// and the kernel cut it short (it does not say by how much).
    case frameTruncated(capacity: Int)
    /// A command on several devices stopped at `error` after finishing with `done`.
    indirect case partlyDone(TapError, done: [String])
    /// TUNGETDEVNETNS was refused (EPERM: no CAP_NET_ADMIN over the device's
    /// namespace, or unsupported before Linux 5.2), so which device the name
    /// means cannot be checked: refused rather than guessed.
    case namespaceUnverified(String)
    /// A pattern that matches no tun/tap device.
    case noMatch(String)
    /// `NetworkNamespace.enter`: the namespace file does not exist.
    case noNamespace(String, path: String)
    /// setns said EINVAL: the file is not a network namespace.
    case notANamespace(String)
    /// setns said EPERM: entering a network namespace needs CAP_SYS_ADMIN.
    case namespacePermission(String)
    /// The errno is nil for "needs CAP_NET_ADMIN".
    case settingRefused(String, setting: String, Errno?, applied: [String])
    /// `send --socket PATH`: the path does not fit a sockaddr_un (1 to 107 bytes).
    case socketPath(String)
    /// `bridgeHelper`: the inherited descriptor is not a socket (ENOTSOCK).
    case notASocket(fd: CInt)
    /// `send --socket PATH`: something other than a socket is there.
    case notASocketFile(String)
    /// exec --user/--group without the privilege to switch identity.
    case cannotBecome(uid: UInt32, gid: UInt32)
    /// `send --socket PATH`: nothing is there (ENOENT).
    case socketMissing(String)
    /// `send --socket PATH`: a socket nobody listens on (ECONNREFUSED).
    case socketRefused(String)
    /// The receiver closed the connection before reading the descriptors (EPIPE, ECONNRESET).
    case peerClosed(String)
    /// `send`: the receiver neither answered nor closed the connection within the timeout.
    case peerSilent(String, milliseconds: CInt)
    /// Any other failure: the call or step that failed, and its errno.
    case system(String, Errno)

    /// Why a device in another network namespace cannot be acted on.
    public enum ForeignNamespaceReason: Equatable, Sendable {
        /// Privileged-helper mode acts only in its own namespace.
        case helperMode
        /// Entering the namespace (setns) was refused: it needs CAP_SYS_ADMIN.
        case cannotEnter
    }

    /// The kind of failure; tapctl exits with a status for each (usage 2, permission 3,
    /// not found 4, exists 5, busy 6, failure 1).
    public enum Category: Sendable {
        case usage, permission, notFound, exists, busy, failure
    }

    /// This error's kind; for some cases it depends on the errno or on whether the device is in use.
    public var category: Category {
        switch self {
        case .invalidName, .unknownUser, .unknownGroup, .offloadProblem, .invalidMAC, .invalidSetting, .noSuchBridge: return .usage
        case .noNamespace, .notANamespace, .notOpen, .notTunDescriptor, .unattachedDescriptor: return .notFound
        case .cannotBecome: return .permission
        case .namespacePermission, .foreignNamespace, .namespaceUnverified: return .permission
        case .movedWhileActing, .frameTruncated: return .failure
        case .partlyDone(let error, _): return error.category
        case .settingRefused(_, _, let errno, _): return errno == nil ? .permission : .failure
        case .needsNetAdmin, .notPermitted, .accessListMissing, .accessListMalformed, .accessListInsecure, .accessDenied:
            return .permission
        case .tunUnavailable(let errno): return errno == .EACCES || errno == .EPERM ? .permission : .failure
        case .notFound, .notTunTap, .noMatch: return .notFound
        case .alreadyExists, .existsDifferently: return .exists
        case .cannotChangeInPlace(_, _, let inUse): return inUse ? .busy : .exists
        case .inUse, .intruder: return .busy
        case .identityChanged, .unmappedID, .capabilities, .offloadsRefused,
             .queueRefused, .notMultiQueue, .tooManyQueues, .vhostUnavailable, .descriptorTaken, .socketPath, .notASocket, .notASocketFile, .socketMissing,
             .socketRefused, .peerClosed, .peerSilent, .system:
            return .failure
        }
    }

    /// What went wrong, with the kernel's reason decoded: a phrase for after
    /// "tapctl: <command> <device>: ".
    public var message: String {
        switch self {
        case .invalidName(_, let problem):
            return "the name \(problem)"
        case .tunUnavailable(let errno):
            switch errno {
            case .ENOENT: return "/dev/net/tun does not exist"
            case .ENODEV, .ENXIO: return "the TUN driver is not loaded"
            case .EACCES, .EPERM: return "cannot open /dev/net/tun: permission denied"
            default: return "cannot open /dev/net/tun: \(errno)"
            }
        case .alreadyExists:
            return "already exists"
        case .existsDifferently(_, let differences):
            return "already exists, but " + differences.joined(separator: ", and ")
        case .notFound:
            return "no such device"
        case .notTunTap(let name, let kind):
            return "\(name) is not a tun/tap device" + (kind.map { " (it is a \($0) device)" } ?? "")
        case .inUse(_, let holders):
            guard !holders.isEmpty else { return "in use by a process this caller cannot see" }
            return "in use by " + holders.byProcess.map { "pid " + $0.described }.joined(separator: ", ")
        case .intruder(_, let holders):
            let who = holders.byProcess.map { "pid \($0.pid) (\($0.command))" }.joined(separator: ", ")
            return "another process" + (who.isEmpty ? "" : ", " + who + ",")
                + " attached a queue before the owner was set; the device was deleted"
        case .needsNetAdmin:
            return "creating a device needs CAP_NET_ADMIN"
        case .notPermitted(let name, let owner, let group):
            let who = [owner.map { "owner uid \($0)" }, group.map { "group gid \($0)" }]
                .compactMap { $0 }.joined(separator: ", ")
            return "needs CAP_NET_ADMIN or ownership of \(name)" + (who.isEmpty ? "" : " (\(who))")
        case .notOpen:
            return "not open"
        case .notTunDescriptor:
            return "not a tun/tap descriptor"
        case .unattachedDescriptor:
            return "a tun/tap descriptor attached to no device"
        case .unknownUser(let user):
            return "no user named '\(user)'"
        case .unknownGroup(let group):
            return "no group named '\(group)'"
        case .unmappedID(let what):
            return "\(what) has no mapping in this user namespace"
        case .capabilities(let step, let errno):
            return "cannot give up privileges (\(step)): \(errno)"
        case .offloadProblem(let problem):
            return problem.description
        case .invalidMAC(let problem):
            return problem.description
        case .offloadsRefused(_, let refused, let kept):
            let what = refused.isEmpty ? "this set" : refused.joined(separator: ",")
            // Without a verified name the previous set cannot be read; the kernel keeps it on a refusal.
            if refused.isEmpty && kept == nil { return "the kernel refused this set and kept the previous one" }
            return "the kernel refused \(what); " + (kept.map { "the offloads stay \($0)" } ?? "the offloads are unknown now")
        case .queueRefused(_, let reason):
            return reason
        case .notMultiQueue(let name, let queues):
            return "\(queues) queues need a multiqueue device, and \(name) is not one"
        case .tooManyQueues(let name, let queues):
            return "\(name) cannot have \(queues) queues: the kernel allows 256, detached ones included"
        case .vhostUnavailable(let errno):
            switch errno {
            case .ENOENT: return "/dev/vhost-net does not exist"
            case .EACCES, .EPERM: return "cannot open /dev/vhost-net: permission denied"
            default: return "cannot open /dev/vhost-net: \(errno)"
            }
        case .descriptorTaken(let fd):
            return "fd \(fd) is already open (inherited), and a tap descriptor would replace it"
        case .noNamespace(let name, let path):
            return "no network namespace \(name) (\(path) does not exist)"
        case .notANamespace(let path):
            return "\(path) is not a network namespace"
        case .namespacePermission(let name):
            return "entering network namespace \(name) needs CAP_SYS_ADMIN"
        case .noMatch(let pattern):
            return "no tun/tap device matches '\(pattern)'"
        case .accessListMissing(let errno):
            return "privileged-helper mode allows nothing without \(AccessList.path) (\(errno))"
        case .accessListMalformed(let line, let why):
            return "\(AccessList.path) line \(line): \(why); privileged-helper mode allows nothing until it is fixed"
        case .accessListInsecure(let path, let why):
            return "\(path) \(why); privileged-helper mode trusts only a file that root alone can change"
        case .accessDenied(_, let why):
            return why
        case .cannotChangeInPlace(_, let differences, let inUse):
            return (inUse ? "in use, and changing it would disturb its holder: " : "differs where it cannot change in place: ")
                + differences.joined(separator: ", ")
        case .foreignNamespace(let name, .helperMode):
            return "\(name) is in another network namespace than the helper's, where the name may be another device; "
                + "privileged-helper mode acts only on devices in its own network namespace"
        case .foreignNamespace(let name, .cannotEnter):
            return "\(name) is in another network namespace, where the name may be another device, and entering it needs CAP_SYS_ADMIN"
        case .partlyDone(let error, let done):
            return error.message + "; done before it: " + done.joined(separator: ", ")
        case .frameTruncated(let capacity):
            return "a frame longer than the \(capacity)-byte buffer came and was cut short; size the buffer for the "
                + "device's MTU plus 14 bytes of Ethernet header, or 65550 bytes with segmentation offloads"
        case .noSuchBridge(let name):
            return "no bridge named \(name)"
        case .movedWhileActing(let name, let applied):
            return "\(name) moved to another network namespace while tapctl changed it; "
                + "applied to the index it had before the move: " + applied.joined(separator: ", ")
        case .namespaceUnverified(let name):
            return "cannot tell which network namespace \(name) is in (TUNGETDEVNETNS needs CAP_NET_ADMIN over it), "
                + "so a name looked up here could be another device; this needs root, or tapctl as a privileged helper"
        case .identityChanged(let name):
            return "\(name) changed (it was removed, renamed or made again) while tapctl was opening it; nothing was changed"
        case .invalidSetting(let problem):
            return problem
        case .settingRefused(_, let setting, let errno, let applied):
            // The tun driver refuses a queue length it cannot allocate through a
            // netdevice notifier, which the kernel reports as EPERM.
            let cause = setting.hasPrefix("txqueuelen") && errno == .EPERM
                ? "refused by the tun driver (it could not allocate a queue that long)"
                : errno.map { "refused by the kernel (\($0))" } ?? "needs CAP_NET_ADMIN"
            return "\(setting): \(cause)" + (applied.isEmpty ? "; nothing was changed"
                : "; applied before it: " + applied.joined(separator: ", "))
        case .socketPath(let path):
            return "'\(path)' cannot be a Unix socket path (1 to 107 bytes)"
        case .notASocket:
            return "not a Unix socket"
        case .notASocketFile(let path):
            return "\(path) is not a socket"
        case .cannotBecome(let uid, let gid):
            return "becoming uid \(uid) (gid \(gid)) needs CAP_SETUID and CAP_SETGID"
        case .socketMissing(let path):
            return "no socket at \(path)"
        case .socketRefused(let path):
            return "nothing is listening on \(path)"
        case .peerClosed(let path):
            return "the receiver on \(path) closed the connection before reading the descriptors"
        case .peerSilent(let path, let milliseconds):
            return "the receiver on \(path) neither answered nor closed the connection within \(milliseconds / 1000) s"
        case .system(let operation, let errno):
            return "\(operation) failed: \(errno)"
        }
    }
}
