import SystemPackage
import TapSystem

// The typed values TapError's cases carry: what a program switches on. The
// command line turns each into words.

/// A setting whose value was refused (`TapError.invalidValue`, `notEthernet`).
public enum Setting: String, Sendable, CaseIterable {
    /// The virtio-net header size: 10, 12, 20 or 24.
    case vnetHeaderSize = "vnet_hdr_size"
    /// A queue count: 1 to 256.
    case queues
    /// A send buffer in bytes: 1 to INT_MAX.
    case sendBuffer = "sndbuf"
    /// An Ethernet address.
    case mac
    /// A bridge to join.
    case bridge
}

/// One link change, as `set`, `create` and `apply` make them, in order.
public enum LinkStep: Equatable, Sendable {
    /// Leaving the bridge the device is a port of.
    case leaveBridge
    case mtu(UInt32)
    case mac(MACAddress)
    case txQueueLength(UInt32)
    /// Joining the bridge of that name.
    case joinBridge(String)
    /// IFF_UP on (true) or off.
    case up(Bool)
}

/// One field where a device differs from what was asked or declared.
public struct SettingChange: Equatable, Sendable {
    /// A field's value: a number, a text, on or off, or an owner or group (nil: none).
    public enum Value: Equatable, Sendable {
        case number(UInt32?), text(String?), flag(Bool), user(UInt32?), group(UInt32?)
    }

    /// "mtu", "owner", "up", "mode", "multi_queue", "kind"...: the key `--json` uses.
    public let field: String
    /// The device's value.
    public let from: Value
    /// The value asked for.
    public let to: Value

    /// A difference in `field`, from the device's value to the one asked for.
    public init(_ field: String, _ from: Value, _ to: Value) {
        self.field = field
        self.from = from
        self.to = to
    }
}

/// Why TUNSETQUEUE said EINVAL, and the device it was about.
public enum QueueRefusal: Equatable, Sendable {
    case notMultiQueue(device: String)
    case alreadyAttached(device: String)
    case alreadyDetached(device: String)
}

/// What is wrong with an `apply` declaration.
public enum DeclarationProblem: Equatable, Sendable {
    /// A template (with %d), where a declared device needs its own name.
    case template
    /// The same name declared twice.
    case declaredTwice
}

/// What is wrong with bytes read as a virtio-net header.
public enum HeaderProblem: Equatable, Sendable {
    /// Fewer bytes than the 10 of the smallest header.
    case tooShort(Int)
    /// A gso_type virtio-net does not define.
    case unknownGSOType(UInt8)
    /// A frame shorter than the header the device puts before each one.
    case frameShorterThanHeader(Int)
}

/// What is wrong with what came over a handoff socket.
public enum HandoffProblem: Equatable, Sendable {
    /// The text before the descriptors is not a version 1 header.
    case notAHeader(String)
    /// The header's counts disagree with the descriptors that came.
    case countMismatch(queues: Int, vhost: Int, received: Int)
    /// The queues are of different devices.
    case differentDevices([String])
}

/// A step of giving up or using privilege (`TapError.capabilities`).
public enum PrivilegeStep: Equatable, Sendable {
    /// Lowering a capability the gate raised.
    case lowering(Capability)
    case boundingSet, ambientSet, setgroups, setgid, setuid, noNewPrivileges
    /// Emptying the capability sets.
    case emptying
    /// setuid root giving up uid 0 for the real user, capabilities kept.
    case becomingRealUser
    /// Keeping CAP_NET_ADMIN (and CAP_SYS_ADMIN) permitted, and nothing else.
    case keepingNetAdmin
}

/// A line of the access list that does not parse.
public enum AccessListSyntax: Equatable, Sendable {
    /// A carriage return: the file was saved with CRLF line endings.
    case carriageReturn
    /// A limit line without three words.
    case limitWords
    /// The same limit twice.
    case limitTwice(String)
    /// A limit whose value is out of range or no number.
    case limitValue(limit: String, value: String)
    /// A limit that is not queues, txqueuelen or devices.
    case unknownLimit(String)
    /// A rule without four words.
    case ruleWords
    /// A first word that is not allow, deny or limit.
    case unknownVerb(String)
    case noUser(String), noGroup(String)
    /// A subject that is not user:NAME, group:NAME or all.
    case unknownSubject(String)
    /// An object that is not device or bridge.
    case unknownObject(String)
}

/// How the access list, or a directory above it, is not kept as root keeps it.
public enum AccessListFlaw: Equatable, Sendable {
    case symbolicLink, notDirectory, notRegularFile
    case notOwnedByRoot(uid: UInt32)
    /// Writable by its group or (`byEveryone`) by every user; the mode.
    case writable(byEveryone: Bool, mode: UInt32)
}

/// Which of privileged-helper mode's rules refused a change.
public enum Denial: Equatable, Sendable {
    /// The access list allows `uid` no device of that name.
    case deviceNotAllowed(uid: UInt32)
    /// The access list allows `uid` no bridge of that name.
    case bridgeNotAllowed(uid: UInt32)
    /// The device belongs to another user (or group, with no owner) than `caller`.
    case notYours(owner: UInt32?, group: UInt32?, caller: UInt32)
    /// A new device always has an owner in helper mode: the caller.
    case ownerRequired
    /// Only the caller can own what helper mode makes.
    case ownerNotCaller(uid: UInt32)
    /// The caller is not in that group.
    case notInGroup(UInt32)
    /// The `limit devices` count: made so far, allowed.
    case deviceLimit(made: Int, allowed: Int)
    /// The `limit queues` count for one device: asked, allowed.
    case queueLimit(queues: Int, allowed: Int)
    /// The `limit txqueuelen`: asked, allowed.
    case txQueueLengthLimit(UInt32, allowed: UInt32)
    /// The tap would be the bridge's only port; the administrator gives a bridge its first.
    case onlyPort(bridge: String)
    /// An MTU below the bridge's, which would lower the bridge's own.
    case mtuBelowBridge(UInt32, bridge: String, bridgeMTU: UInt32)
    /// Raising the port's MTU alone would raise the bridge's.
    case raisesBridgeMTU(bridge: String)
    /// A port of `bridge` must have the address `required` (fe:ff:ff:ff:ff:ff).
    case portAddress(required: MACAddress, bridge: String)
    /// `delete` in helper mode names its devices.
    case unnamedDelete
    /// `apply --prune` in helper mode.
    case prune
    /// Addresses, routes, traffic control and CNI tags, which only root sets.
    case rootOnly
}

/// The system call or step behind `TapError.system`.
public enum SystemOperation: Equatable, Sendable {
    /// A TUN ioctl, by the kernel's name for it.
    case ioctl(TunRequest)
    /// TUNSETIFF attaching queue `index` (from 1) of a device.
    case attachQueue(Int)
    /// An rtnetlink request about a link.
    case link(LinkRequestKind)
    /// The netlink socket: opening, sending, receiving, or a reply that does not parse.
    case netlink(NetlinkStep)
    /// The ethtool socket (SIOCETHTOOL).
    case ethtool
    case open(path: String)
    /// /proc/thread-self/ns/net, to come back to.
    case openNamespace
    case setns, unshare
    /// Entering the network namespace at that path.
    case enterNamespace(path: String)
    /// Coming back to the namespace tapctl started in.
    case returnNamespace
    case socket
    case connect(path: String)
    case sendmsg, recvmsg, recv, poll
    case read, write, readv, writev
    /// O_NONBLOCK on or off.
    case nonBlocking
    /// Placing a handed-over descriptor at a number (dup2).
    case placeDescriptor(Int32)
    /// Moving a descriptor out of the way of those placed.
    case moveDescriptor(Int32)
    case getgroups
    /// Proving two queues are one device (TUNSETVNETLE).
    case compareDevices
}

/// The TUN ioctls, by the kernel's names.
public enum TunRequest: String, Sendable {
    case TUNSETIFF, TUNGETIFF, TUNSETPERSIST, TUNSETOWNER, TUNSETGROUP, TUNSETOFFLOAD, TUNGETFEATURES
    case TUNGETVNETHDRSZ, TUNSETVNETHDRSZ, TUNGETSNDBUF, TUNSETSNDBUF, TUNSETQUEUE, TUNGETDEVNETNS
    case TUNSETVNETLE, TUNSETVNETBE
}

/// What an rtnetlink link request was for.
public enum LinkRequestKind: Equatable, Sendable {
    /// RTM_GETLINK.
    case get
    /// RTM_DELLINK.
    case delete
    /// Moving a new device into the caller's namespace.
    case move
    /// Renaming a new device, in its private namespace, to `name`.
    case rename(String)
    /// IFLA_IFALIAS: recording who made it.
    case recordMaker
    /// Reading the settings of the device of that name.
    case read(String)
    /// IFLA_GROUP.
    case group
    /// RTM_NEWADDR on the device of that name.
    case address(String)
    /// RTM_NEWROUTE through the device of that name.
    case route(String)
    /// Traffic control (a qdisc or a filter) on the device of that name.
    case trafficControl(String)
}

/// A step of a netlink exchange.
public enum NetlinkStep: Equatable, Sendable {
    case open, send, receive
    /// A reply that does not parse.
    case parse
}
