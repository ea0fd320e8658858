import Glibc
import CTapShim
import SystemPackage
import TapSystem
import TapDataPath

/// The operations on tun/tap devices in the caller's network namespace.
/// Every system call goes through `system`, which tests may replace.
public struct TapControl: Sendable {
    /// The system calls every operation makes: `.live` outside tests.
    public let system: SystemCalls
    /// Privileged-helper mode's access list for the caller; nil outside it.
    public let policy: HelperPolicy?
    /// Privileged-helper mode, with or without an access list (work on a
    /// descriptor the caller holds needs none): CAP_NET_ADMIN is in the
    /// permitted set, raised only for what needs it, and a descriptor of a
    /// device in another network namespace is refused.
    public let helperMode: Bool

    /// Operations through `system`, under privileged-helper mode's `policy` when
    /// one is given; `helperMode` is that mode without an access list.
    public init(system: SystemCalls = .live, policy: HelperPolicy? = nil, helperMode: Bool = false) {
        self.system = system
        self.policy = policy
        self.helperMode = helperMode || policy != nil
    }

    /// A device as `list` and `show` report it.
    public struct Device: Equatable, Sendable {
        /// The device; for a single-queue one, `queues` is 1 when its carrier is on or a
        /// process holds it, else 0.
        public var link: TunLink
        /// The processes in this namespace holding its queues, from /proc; without
        /// CAP_SYS_PTRACE, only the caller's own.
        public var holders: [Holder]

        /// The kernel reports queue counts for multiqueue devices only; a
        /// single-queue device counts as attached when its carrier is on or a
        /// process holds it (another user's, unseen without root, has the carrier).
        /// The link state `create`, `set` and `apply` configure, nil where not read.
        public var state: LinkState?

        init(link: TunLink, holders: [Holder], state: LinkState? = nil) {
            self.link = link
            self.holders = holders
            self.state = state
            if !link.multiQueue { self.link.queues = holders.isEmpty && !link.carrier ? 0 : 1 }
        }
    }

    /// A device's link state, as rtnetlink reports it.
    public struct LinkState: Equatable, Sendable {
        /// IFF_UP.
        public var up: Bool
        /// IFLA_MTU.
        public var mtu: UInt32?
        /// The hardware address; nil for a tun.
        public var mac: MACAddress?
        /// The name of the bridge it is a port of, if any.
        public var bridge: String?
        /// IFLA_TXQLEN.
        public var txQueueLength: UInt32?

        init(_ link: Link, among links: [Link]) {
            up = link.flags & UInt32(IFF_UP) != 0
            mtu = link.mtu
            mac = link.tun?.mode == .tun ? nil : link.address.map(MACAddress.init(bytes:))
            bridge = link.master.flatMap { master in links.first { $0.index == master && $0.kind == "bridge" }?.name }
            txQueueLength = link.txQueueLength
        }
    }

    /// The tun/tap devices `selection` names, sorted by name, each with its
    /// holders and link state: what `list`, `show` and `dump --json` describe.
    public func devices(_ selection: DeviceSelection, missingOK: Bool = false) throws(TapError) -> [Device] {
        var socket = try RouteSocket(system: system)
        let links = try socket.links()
        let chosen = try select(selection, from: links, missingOK: missingOK)
        let tuns = chosen.compactMap(\.tun)
        let expected = tuns.reduce(Optional(0)) { total, link in total.flatMap { total in link.heldQueues.map { total + $0 } } }
        let holders = tuns.contains(where: \.mayBeHeld) ? Holders.scan(expecting: expected, system: system) : HolderTable()
        return chosen.sorted { $0.name < $1.name }.compactMap { link in
            link.tun.map { Device(link: $0, holders: holders[link.name] ?? [], state: LinkState(link, among: links)) }
        }
    }

    /// Every tun/tap device, sorted by name, with the processes holding each.
    public func list() throws(TapError) -> [Device] {
        // /proc is the slow part of a listing: `devices` reads it only when some device can
        // have a holder, and only until every queue the kernel counts is found.
        try devices(.all)
    }

    /// The tun/tap device called `name`, with its holders (a /proc scan). Throws `notFound`,
    /// `notTunTap` for a device of another kind, and `system` when rtnetlink fails.
    public func show(_ name: InterfaceName) throws(TapError) -> Device {
        guard let device = try devices(.names([name])).first else { throw .notFound(name.value) }
        return device
    }

    /// The tun/tap device called `name`, without the /proc scan for its holders.
    public func link(_ name: InterfaceName) throws(TapError) -> TunLink {
        try tunLink(name.value)
    }

    /// The device called `name`, which must exist and be a tun/tap device.
    func tunLink(_ name: String) throws(TapError) -> TunLink {
        let link = try device(named: name)
        guard let tun = link.tun else { throw .notTunTap(name, kind: link.kind) }
        return tun
    }

    /// The link called `name`, which must exist and be a tun/tap device: its
    /// `tun` is set.
    func device(named name: String) throws(TapError) -> Link {
        var socket = try RouteSocket(system: system)
        guard let link = try socket.link(named: name) else { throw .notFound(name) }
        guard link.tun != nil else { throw .notTunTap(name, kind: link.kind) }
        return link
    }
}
