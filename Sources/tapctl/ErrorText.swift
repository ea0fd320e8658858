import SystemPackage
import TapSystem
import TapDataPath
import TapCore

// The words for the libraries' typed values: every sentence tapctl prints
// about a failure is made here, from the case and its values.

/// Where privileged-helper mode reads its rules: the command line's to
/// choose, a parameter to the library.
let accessListPath = "/etc/tapctl/acl"

extension HoldingProcess {
    /// "4242 (qemu-system-x86, fd 31)", or "(sleep, 4 queues)" for several.
    var described: String {
        "\(pid) (\(command), " + (fds.count == 1 ? "fd \(fds[0])" : "\(fds.count) queues") + ")"
    }
}

extension SettingChange: CustomStringConvertible {
    /// "mtu 1500 -> 9000", "owner none -> 65534", "vnet_hdr off -> on", and
    /// for the state, "down -> up".
    public var description: String {
        func text(_ value: Value) -> String {
            switch value {
            case .number(let number), .user(let number), .group(let number): return number.map(String.init) ?? "none"
            case .text(let text): return text ?? "none"
            case .flag(let on): return field == "up" ? (on ? "up" : "down") : (on ? "on" : "off")
            }
        }
        return (field == "up" ? "" : field + " ") + text(from) + " -> " + text(to)
    }
}

extension LinkStep: CustomStringConvertible {
    /// "mtu 9000", "nobridge", "up": as `set` reports what it applied.
    public var description: String {
        switch self {
        case .leaveBridge: "nobridge"
        case .mtu(let mtu): "mtu \(mtu)"
        case .mac(let mac): "mac \(mac)"
        case .txQueueLength(let length): "txqueuelen \(length)"
        case .joinBridge(let bridge): "bridge \(bridge)"
        case .up(let up): up ? "up" : "down"
        }
    }
}

extension SystemOperation {
    /// The call, as a phrase: "TUNSETIFF", "reading a netlink reply".
    var text: String {
        switch self {
        case .ioctl(let request): request.rawValue
        case .attachQueue(let index): "attaching queue \(index)"
        case .link(.get): "RTM_GETLINK"
        case .link(.delete): "RTM_DELLINK"
        case .link(.move): "moving the new device here (RTM_NEWLINK)"
        case .link(.rename(let name)): "renaming the new device to \(name) (RTM_NEWLINK)"
        case .link(.recordMaker): "recording the device's maker (IFLA_IFALIAS)"
        case .link(.read(let name)): "reading \(name)'s settings"
        case .link(.group): "setting the device group"
        case .link(.address(let name)): "adding an address to \(name) (RTM_NEWADDR)"
        case .link(.route(let name)): "adding a route through \(name) (RTM_NEWROUTE)"
        case .link(.trafficControl(let name)): "traffic control on \(name)"
        case .netlink(.open): "opening a netlink socket"
        case .netlink(.send): "sending a netlink request"
        case .netlink(.receive): "reading a netlink reply"
        case .netlink(.parse): "parsing a netlink reply"
        case .ethtool: "SIOCETHTOOL"
        case .open(let path): "opening \(path)"
        case .openNamespace: "opening /proc/thread-self/ns/net"
        case .setns: "setns"
        case .unshare: "unshare(CLONE_NEWNET)"
        case .enterNamespace(let path): "setns \(path)"
        case .returnNamespace: "setns back"
        case .socket: "socket"
        case .connect(let path): "connecting to \(path)"
        case .sendmsg: "sendmsg"
        case .recvmsg: "recvmsg"
        case .recv: "recv"
        case .poll: "poll"
        case .read: "read"
        case .write: "write"
        case .readv: "readv"
        case .writev: "writev"
        case .nonBlocking: "fcntl O_NONBLOCK"
        case .placeDescriptor(let fd): "placing fd \(fd)"
        case .moveDescriptor(let fd): "moving fd \(fd)"
        case .getgroups: "getgroups"
        case .compareDevices: "comparing devices (TUNSETVNETLE)"
        }
    }
}

extension PrivilegeStep {
    var text: String {
        switch self {
        case .lowering(let capability): "lowering \(capability.name)"
        case .boundingSet: "bounding set"
        case .ambientSet: "ambient set"
        case .setgroups: "setgroups"
        case .setgid: "setgid"
        case .setuid: "setuid"
        case .noNewPrivileges: "PR_SET_NO_NEW_PRIVS"
        case .emptying: "cap_set_proc"
        case .becomingRealUser: "becoming the real user"
        case .keepingNetAdmin: "keeping CAP_NET_ADMIN alone"
        }
    }
}

extension Capability {
    var name: String {
        switch self {
        case .netAdmin: "CAP_NET_ADMIN"
        case .sysAdmin: "CAP_SYS_ADMIN"
        case .setpcap: "CAP_SETPCAP"
        }
    }
}

extension AccessListSyntax {
    var text: String {
        switch self {
        case .carriageReturn: "a carriage return (CRLF line ending); save the file with Unix line endings"
        case .limitWords: "a limit has three words: limit queues|txqueuelen|devices N"
        case .limitTwice(let limit): "limit \(limit) is given twice"
        case .limitValue(let limit, let value): "'\(value)' is not a valid number of \(limit)"
        case .unknownLimit(let limit): "'\(limit)' is not queues, txqueuelen or devices"
        case .ruleWords: "a rule has four words: allow|deny WHO device|bridge PATTERN"
        case .unknownVerb(let word): "'\(word)' is not allow, deny or limit"
        case .noUser(let name): "no user '\(name)'"
        case .noGroup(let name): "no group '\(name)'"
        case .unknownSubject(let word): "'\(word)' is not user:NAME, group:NAME or all"
        case .unknownObject(let word): "'\(word)' is not device or bridge"
        }
    }
}

extension AccessListFlaw {
    var text: String {
        switch self {
        case .symbolicLink: "is a symbolic link"
        case .notDirectory: "is not a directory"
        case .notRegularFile: "is not a regular file"
        case .notOwnedByRoot(let uid): "is owned by uid \(uid), not root"
        case .writable(let everyone, let mode):
            "is writable by " + (everyone ? "every user" : "its group") + " (mode " + String(mode, radix: 8) + ")"
        }
    }
}

extension Denial {
    /// Why, for the device `device` (when the error names one).
    func text(device: String?) -> String {
        let name = device ?? "the device"
        switch self {
        case .deviceNotAllowed(let uid): return "\(accessListPath) does not allow uid \(uid) this device"
        case .bridgeNotAllowed(let uid): return "\(accessListPath) does not allow uid \(uid) this bridge"
        case .notYours(let owner, let group, let caller):
            return "it belongs to " + (owner.map { "uid \($0)" } ?? "group \(group ?? 0)") + ", not uid \(caller)"
        case .ownerRequired: return "in privileged-helper mode a new device always has an owner: you"
        case .ownerNotCaller(let uid): return "in privileged-helper mode only you (uid \(uid)) can own what tapctl makes"
        case .notInGroup(let gid): return "you are not in group \(gid)"
        case .deviceLimit(let made, let allowed):
            return "tapctl made \(made) devices for you already, and \(accessListPath) allows \(allowed)"
        case .queueLimit(let queues, let allowed):
            return "\(queues) queues are more than the \(allowed) \(accessListPath) allows one device"
        case .txQueueLengthLimit(let length, let allowed):
            return "txqueuelen \(length) is more than the \(allowed) \(accessListPath) allows"
        case .onlyPort(let bridge):
            return "\(name) would be bridge \(bridge)'s only port, and a bridge takes its only port's address and MTU; "
                + "in privileged-helper mode a bridge needs another port first"
        case .mtuBelowBridge(let mtu, let bridge, let bridgeMTU):
            return "MTU \(mtu) is below bridge \(bridge)'s \(bridgeMTU), and in privileged-helper mode a port cannot lower its bridge's MTU"
        case .raisesBridgeMTU(let bridge):
            return "raising \(name)'s MTU would raise bridge \(bridge)'s, and in privileged-helper mode a port cannot change its bridge's MTU"
        case .portAddress(let required, let bridge):
            return "in privileged-helper mode a bridge port's address is \(required), so that it never becomes bridge \(bridge)'s"
        case .unnamedDelete: return "in privileged-helper mode, name the devices to delete"
        case .prune: return "in privileged-helper mode apply does not delete devices: --prune is refused"
        case .rootOnly: return "addresses, routes, traffic control and CNI tags are root's: privileged-helper mode does not set them"
        }
    }
}

extension TapError {
    /// What went wrong, with the kernel's reason decoded: a phrase for after
    /// "tapctl: <command> <device>: ".
    var message: String {
        switch self {
        case .invalidName(_, let problem):
            return "the name \(problem)"
        case .tunUnavailable(let errno):
            switch errno {
            case .noSuchFileOrDirectory: return "/dev/net/tun does not exist"
            case .operationNotSupportedByDevice, .noSuchAddressOrDevice: return "the TUN driver is not loaded"
            case .permissionDenied, .notPermitted: return "cannot open /dev/net/tun: permission denied"
            default: return "cannot open /dev/net/tun: \(errno)"
            }
        case .alreadyExists:
            return "already exists"
        case .existsDifferently(_, let differences):
            return "already exists, but " + differences.map(\.difference).joined(separator: ", and ")
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
        case .unmappedID(let uid, let gid):
            let what = [uid.map { "uid \($0)" }, gid.map { "gid \($0)" }].compactMap { $0 }.joined(separator: " or ")
            return "\(what) has no mapping in this user namespace"
        case .capabilities(let step, let errno):
            return "cannot give up privileges (\(step.text)): \(errno)"
        case .offloadProblem(let problem):
            return problem.description
        case .invalidMAC(let problem):
            return problem.description
        case .offloadsRefused(_, let refused, let kept):
            let what = refused.isEmpty ? "this set" : refused.description
            // Without a verified name the previous set cannot be read; the kernel keeps it on a refusal.
            if refused.isEmpty && kept == nil { return "the kernel refused this set and kept the previous one" }
            return "the kernel refused \(what); " + (kept.map { "the offloads stay \($0)" } ?? "the offloads are unknown now")
        case .queueRefused(_, .notMultiQueue(let name)):
            return "a queue of \(name), which is not multiqueue"
        case .queueRefused(_, .alreadyAttached(let name)):
            return "already attached to \(name)"
        case .queueRefused(_, .alreadyDetached(let name)):
            return "already detached from \(name)"
        case .notMultiQueue(let name, let queues):
            return "\(queues) queues need a multiqueue device, and \(name) is not one"
        case .tooManyQueues(let name, let queues):
            return "\(name) cannot have \(queues) queues: the kernel allows 256, detached ones included"
        case .vhostUnavailable(let errno):
            switch errno {
            case .noSuchFileOrDirectory: return "/dev/vhost-net does not exist"
            case .permissionDenied, .notPermitted: return "cannot open /dev/vhost-net: permission denied"
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
            return "privileged-helper mode allows nothing without \(accessListPath) (\(errno))"
        case .accessListMalformed(let line, let why):
            return "\(accessListPath) line \(line): \(why.text); privileged-helper mode allows nothing until it is fixed"
        case .accessListInsecure(let path, let why):
            return "\(path) \(why.text); privileged-helper mode trusts only a file that root alone can change"
        case .accessDenied(let device, let why):
            return why.text(device: device)
        case .cannotChangeInPlace(_, let differences, let inUse):
            return (inUse ? "in use, and changing it would disturb its holder: " : "differs where it cannot change in place: ")
                + differences.map(\.description).joined(separator: ", ")
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
                + "applied to the index it had before the move: " + applied.map(\.description).joined(separator: ", ")
        case .namespaceUnverified(let name):
            return "cannot tell which network namespace \(name) is in (TUNGETDEVNETNS needs CAP_NET_ADMIN over it), "
                + "so a name looked up here could be another device; this needs root, or tapctl as a privileged helper"
        case .identityChanged(let name):
            return "\(name) changed (it was removed, renamed or made again) while tapctl was opening it; nothing was changed"
        case .invalidValue(.vnetHeaderSize, let given):
            return "size '\(given)' is not 10, 12, 20 or 24"
        case .invalidValue(.queues, let given):
            return "queues '\(given)' is not a number from 1 to 256"
        case .invalidValue(.sendBuffer, let given):
            return "'\(given)' is not a byte count from 1 to \(SettingLimits.sendBuffer.upperBound), or unlimited"
        case .invalidValue(let setting, let given):
            return "'\(given)' is not a valid \(setting.rawValue)"
        case .mtuOutOfRange(let mtu, let range, let mode):
            return "MTU \(mtu) is outside \(range.lowerBound)..\(range.upperBound) for this \(mode.rawValue) device"
        case .notEthernet(.mac):
            return "a tun device has no MAC address"
        case .notEthernet:
            return "a tun device carries no Ethernet frames, so it cannot join a bridge"
        case .notABridge(let name, let kind):
            return "\(name) is not a bridge" + (kind.map { " (it is a \($0) device)" } ?? "")
        case .badDeclaration(let name, .template):
            return "\(name) is a template; a declared device needs its own name"
        case .badDeclaration(let name, .declaredTwice):
            return "\(name) is declared twice"
        case .malformedHeader(.tooShort(let count)):
            return "a virtio-net header is 10 bytes at least, not \(count)"
        case .malformedHeader(.unknownGSOType(let type)):
            return "gso_type \(type) is not one virtio-net defines"
        case .malformedHeader(.frameShorterThanHeader(let count)):
            return "a frame of \(count) bytes is shorter than its virtio-net header"
        case .noQueue(let index, let count):
            return "no queue \(index) of \(count)"
        case .malformedHandoff(.notAHeader(let text)):
            return "not a tapctl send header (version 1): \(text)"
        case .malformedHandoff(.countMismatch(let queues, let vhost, let received)):
            return "the header announces \(queues) queues and \(vhost) vhost-net descriptors, and \(received) came"
        case .malformedHandoff(.differentDevices(let names)):
            return "the queues belong to different devices: \(names.joined(separator: ", "))"
        case .settingRefused(_, let setting, let errno, let applied):
            // The tun driver refuses a queue length it cannot allocate through a
            // netdevice notifier, which the kernel reports as EPERM.
            let isQueueLength = if case .txQueueLength = setting { true } else { false }
            let cause = isQueueLength && errno == .notPermitted
                ? "refused by the tun driver (it could not allocate a queue that long)"
                : errno.map { "refused by the kernel (\($0))" } ?? "needs CAP_NET_ADMIN"
            return "\(setting): \(cause)" + (applied.isEmpty ? "; nothing was changed"
                : "; applied before it: " + applied.map(\.description).joined(separator: ", "))
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
            return "\(operation.text) failed: \(errno)"
        }
    }
}

extension SettingChange {
    /// How an existing device differs from the one asked for: "it is a tun device, not tap".
    var difference: String {
        switch (field, from, to) {
        case ("kind", .text(let kind), _):
            return kind.map { "it is a \($0) device, not tun/tap" } ?? "it is not a tun/tap device"
        case ("mode", .text(let mode), .text(let asked)):
            return "it is a \(mode ?? "?") device, not \(asked ?? "?")"
        case ("multi_queue", .flag(let on), _):
            return on ? "it is multiqueue" : "it is not multiqueue"
        case ("owner", .user(let owner), .user(let asked)):
            return "its owner is \(owner.map { "uid \($0)" } ?? "unset"), not uid \(asked ?? 0)"
        case ("group", .group(let group), .group(let asked)):
            return "its group is \(group.map { "gid \($0)" } ?? "unset"), not gid \(asked ?? 0)"
        default:
            return description
        }
    }
}
