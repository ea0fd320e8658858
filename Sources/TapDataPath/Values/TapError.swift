import SystemPackage
import TapSystem
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

/// Every failure the libraries report, with the kernel's reason decoded into
/// a case and typed values a program can switch on; `errno` gives the system
/// error behind it, where there is one. The words are the command line's.
public enum TapError: Error, Equatable, Sendable {
    /// `InterfaceName` refused a name: the text and what is wrong with it.
    case invalidName(String, InterfaceName.Problem)
    /// Opening /dev/net/tun failed: missing (ENOENT), no driver (ENODEV, ENXIO), no permission.
    case tunUnavailable(Errno)
    /// `create`: TUNSETIFF with IFF_TUN_EXCL said EBUSY, so a device of that name exists.
    case alreadyExists(String)
    /// `create` under `existOK`: the existing device is not the one asked for, and how.
    case existsDifferently(String, differences: [SettingChange])
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
    /// TUNSETOWNER or TUNSETGROUP said EINVAL: the uid or gid has no mapping
    /// in this user namespace (both given: one of them).
    case unmappedID(uid: UInt32?, gid: UInt32?)
    /// Giving up or raising privilege failed: the step and its errno.
    case capabilities(PrivilegeStep, Errno)
    /// An offload list that does not parse, or a set that breaks a kernel rule; found before TUNSETOFFLOAD.
    case offloadProblem(Offloads.Problem)
    /// A text that is no unicast, non-zero MAC address.
    case invalidMAC(MACAddress.Problem)
    /// TUNSETOFFLOAD said EINVAL to a valid set: the offloads refused (empty
    /// when they could not be told apart), and the set kept (nil if unknown).
    case offloadsRefused(String, refused: Offloads, kept: Offloads?)
    /// TUNSETQUEUE said EINVAL: the queue is attached or detached already, or the device is not multiqueue.
    case queueRefused(fd: CInt, QueueRefusal)
    /// More than one queue asked of a single-queue device.
    case notMultiQueue(String, queues: Int)
    /// TUNSETIFF said E2BIG: the queues, detached ones included, would pass 256.
    case tooManyQueues(String, queues: Int)
    /// Opening /dev/vhost-net failed.
    case vhostUnavailable(Errno)
    /// `Handoff.place`: a number in the range is open already (inherited) and would be overwritten.
    case descriptorTaken(fd: CInt)
    /// A value a setting cannot take: what was given, as typed.
    case invalidValue(Setting, given: String)
    /// An MTU outside what the device's kind allows.
    case mtuOutOfRange(UInt32, allowed: ClosedRange<UInt32>, mode: TunMode)
    /// A MAC address or a bridge for a tun device, which carries no Ethernet frames.
    case notEthernet(Setting)
    /// `--bridge NAME`: the device of that name is not a bridge (`kind`, if any).
    case notABridge(String, kind: String?)
    /// `apply`: a declaration that cannot be applied as written.
    case badDeclaration(String, DeclarationProblem)
    /// Bytes that are not a virtio-net header.
    case malformedHeader(HeaderProblem)
    /// `TapQueues`: no queue at that index.
    case noQueue(index: Int, count: Int)
    /// What came over a handoff socket is not a `tapctl send` handoff.
    case malformedHandoff(HandoffProblem)
    /// The access list cannot be opened or read: privileged-helper mode allows nothing.
    case accessListMissing(Errno)
    /// A line of the access list does not parse: privileged-helper mode allows nothing.
    case accessListMalformed(line: Int, AccessListSyntax)
    /// The access list, or a directory above it (the path), is not kept as root keeps it.
    case accessListInsecure(String, AccessListFlaw)
    /// Refused by privileged-helper mode's rules: the device, if one is named, and which rule.
    case accessDenied(String?, Denial)
    /// `apply`: what differs cannot change in place (the mode, say), or not
    /// while the device is in use.
    case cannotChangeInPlace(String, differences: [SettingChange], inUse: Bool = false)
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
    case movedWhileActing(String, applied: [LinkStep])
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
    /// A link setting the kernel refused, after `applied`; the errno is nil
    /// for "needs CAP_NET_ADMIN".
    case settingRefused(String, setting: LinkStep, Errno?, applied: [LinkStep])
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
    /// Any other failure: the call that failed, and its errno.
    case system(SystemOperation, Errno)

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
        case .invalidName, .unknownUser, .unknownGroup, .offloadProblem, .invalidMAC, .invalidValue, .mtuOutOfRange, .notEthernet,
             .notABridge, .badDeclaration, .noQueue, .noSuchBridge: return .usage
        case .noNamespace, .notANamespace, .notOpen, .notTunDescriptor, .unattachedDescriptor: return .notFound
        case .cannotBecome: return .permission
        case .namespacePermission, .foreignNamespace, .namespaceUnverified: return .permission
        case .movedWhileActing, .frameTruncated, .malformedHeader, .malformedHandoff: return .failure
        case .partlyDone(let error, _): return error.category
        case .settingRefused(_, _, let errno, _): return errno == nil ? .permission : .failure
        case .needsNetAdmin, .notPermitted, .accessListMissing, .accessListMalformed, .accessListInsecure, .accessDenied:
            return .permission
        case .tunUnavailable(let errno): return errno == .permissionDenied || errno == .notPermitted ? .permission : .failure
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

    /// The system error behind this failure, where there is one.
    public var errno: Errno? {
        switch self {
        case .tunUnavailable(let errno), .capabilities(_, let errno), .vhostUnavailable(let errno),
             .accessListMissing(let errno), .system(_, let errno):
            return errno
        case .settingRefused(_, _, let errno, _):
            return errno
        case .partlyDone(let error, _):
            return error.errno
        default:
            return nil
        }
    }
}
