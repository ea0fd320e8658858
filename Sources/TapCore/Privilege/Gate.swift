import Glibc
import CTapShim
import SystemPackage
@_spi(Gate) import TapSystem
import TapDataPath

/// A privileged change, described before it is made: which device, the state
/// it ends in, and what it does to a bridge. The gate authorizes the whole
/// description, against the device as the kernel has it at that moment.
struct PrivilegedChange {
    enum Action {
        /// TUNGETDEVNETNS on a descriptor: reads, changes nothing.
        case identify
        /// A new device (name or template), owned by `owner` and `group`,
        /// made with IFF_TUN_EXCL, so never an attach.
        case create(CreateRequest, owner: uid_t?)
        /// Its user recorded on `name`, a device this call made (IFLA_IFALIAS).
        case record(name: String, index: Int32, alias: String)
        /// A device this call made, moved from its private namespace to the caller's.
        case move
        /// Link settings on an existing device, by index: `device` as it is now.
        case configure(LinkSettings, device: Link)
        /// A device this call made and will not hand over (an intruder, a name
        /// the access list refuses): deleted, whatever the rules say.
        case discard(index: Int32)
        /// Entering or leaving a private network namespace to make a device in.
        case privateNamespace
        /// Addresses, routes, traffic control or a CNI tag on `device`: what
        /// root's CNI plugin does in a sandbox, which helper mode never does.
        case sandboxNetwork(device: String)
    }

    let action: Action
}

/// The one gate for privilege. In privileged-helper mode CAP_NET_ADMIN (and,
/// for a setuid install, CAP_SYS_ADMIN) is in the permitted set only; every
/// change that needs one comes here as a `PrivilegedChange`, is authorized
/// against the access list and its limits, and runs with the capability
/// raised, which nothing else can raise. Outside helper mode (root, or an
/// ordinary user) nothing is authorized: the kernel decides, and nothing is
/// raised that is not effective already.
struct Gate {
    let system: SystemCalls
    let policy: HelperPolicy?
    /// Privileged-helper mode, with or without an access list.
    let helperMode: Bool

    /// Runs `body` with CAP_NET_ADMIN effective, once `change` is authorized.
    func withNetAdmin<T>(_ change: PrivilegedChange, _ body: () throws(TapError) -> T) throws(TapError) -> T {
        try authorize(change)
        return try raised(.netAdmin, body)
    }

    /// Runs `body` with CAP_SYS_ADMIN effective (setns and unshare), once
    /// `change` is authorized; where it is not permitted, `body` meets the
    /// kernel's refusal.
    func withSysAdmin<T>(_ change: PrivilegedChange, _ body: () throws(TapError) -> T) throws(TapError) -> T {
        try authorize(change)
        return try raised(.sysAdmin, body)
    }

    /// Whether CAP_SYS_ADMIN is effective or can be raised: whether this
    /// process can make and leave a network namespace of its own.
    func canEnterNamespaces() -> Bool {
        let privileges = system.privileges
        guard !privileges.isEffective(.sysAdmin) else { return true }
        guard privileges.setEffective(.sysAdmin, true) == 0 else { return false }
        return privileges.setEffective(.sysAdmin, false) == 0
    }

    private func raised<T>(_ capability: Capability, _ body: () throws(TapError) -> T) throws(TapError) -> T {
        let privileges = system.privileges
        // Effective already (root), or not permitted (an ordinary user): nothing to raise.
        guard !privileges.isEffective(capability), privileges.setEffective(capability, true) == 0 else { return try body() }
        let result: Result<T, TapError>
        do {
            result = .success(try body())
        } catch {
            result = .failure(error)
        }
        guard privileges.setEffective(capability, false) == 0 else { throw .capabilities(.lowering(capability), .current) }
        return try result.get()
    }

    /// Throws unless the access list allows `change` as a whole.
    func authorize(_ change: PrivilegedChange) throws(TapError) {
        if helperMode, case .sandboxNetwork(let device) = change.action { throw .accessDenied(device, .rootOnly) }
        guard let policy else { return }
        switch change.action {
        case .identify, .move, .discard, .privateNamespace, .sandboxNetwork:
            return
        case .create(let request, _):
            try policy.checkOwnership(request)
            if !request.name.isTemplate { try policy.device(request.name.value) }
            if let length = request.link.txQueueLength { try policy.checkTxQueueLength(length, device: request.name.value) }
        case .record(let name, let index, _):
            // Counted here, where the device is: the caller's namespace, after any move.
            try checkDeviceCount(policy, device: name, besides: index)
        case .configure(let settings, let device):
            try authorize(settings, on: device, policy)
        }
    }

    /// The alias helper mode records on what it makes for `uid`.
    static func maker(_ uid: uid_t) -> String { "tapctl helper uid \(uid)" }

    /// The devices helper mode made for the caller, by the alias only
    /// CAP_NET_ADMIN can change (not by owner, which an owner can hand on).
    private func checkDeviceCount(_ policy: HelperPolicy, device name: String, besides index: Int32) throws(TapError) {
        var socket = try RouteSocket(system: system)
        let made = try socket.links().filter { $0.alias == Self.maker(policy.uid) && $0.index != index }.count
        guard made < policy.limits.devices else {
            throw .accessDenied(name, .deviceLimit(made: made, allowed: policy.limits.devices))
        }
    }

    /// Link settings on `device` as it is now: the device's own rules, the
    /// queue length limit, and the bridge rules on every bridge it touches. A
    /// port never lowers its bridge's MTU and never gives it its address: its
    /// MTU is at least the bridge's and its address fe:ff:ff:ff:ff:ff, the
    /// highest unicast one. A bridge takes the lowest address of its ports and
    /// follows an only port's MTU, so a device may not be, or become, a
    /// bridge's only port here.
    private func authorize(_ settings: LinkSettings, on device: Link, _ policy: HelperPolicy) throws(TapError) {
        try policy.device(device.name)
        if let tun = device.tun { try policy.owns(tun) }
        if let length = settings.txQueueLength { try policy.checkTxQueueLength(length, device: device.name) }
        var socket = try RouteSocket(system: system)
        let current = try device.master.flatMap { (index) throws(TapError) in try socket.link(index: index) }
        var rules: [Link] = []
        switch settings.bridge {
        case .attach(let name)?:
            guard let joined = try socket.link(named: name) else { throw .noSuchBridge(name) }
            try policy.bridge(joined.name)
            if let current, current.index != joined.index { try policy.bridge(current.name) }
            rules = [joined] + (current.map { $0.index != joined.index ? [$0] : [] } ?? [])
        case .detach?:
            // Leaving comes before any other change (`apply`), so the bridge it leaves sees none of them.
            if let current { try policy.bridge(current.name) }
        case nil:
            rules = current.map { [$0] } ?? []
        }
        guard !rules.isEmpty else { return }
        let links = try socket.links()
        for bridge in rules {
            let others = links.filter { $0.master == bridge.index && $0.index != device.index }
            if others.isEmpty && (settings.bridge != nil || settings.mtu != nil || settings.mac != nil) {
                throw .accessDenied(device.name, .onlyPort(bridge: bridge.name))
            }
            let mtu = settings.mtu ?? device.mtu ?? LinkSettings.defaultMTU
            if let bridgeMTU = bridge.mtu, mtu < bridgeMTU {
                throw .accessDenied(device.name, .mtuBelowBridge(mtu, bridge: bridge.name, bridgeMTU: bridgeMTU))
            }
            // A bridge whose MTU follows its ports has the lowest of theirs: a port at that MTU that
            // no other port shares holds it down, and raising it would raise the bridge.
            if let bridgeMTU = bridge.mtu, settings.bridge == nil, mtu > bridgeMTU, device.mtu == bridgeMTU,
               !others.contains(where: { $0.mtu == bridgeMTU }) {
                throw .accessDenied(device.name, .raisesBridgeMTU(bridge: bridge.name))
            }
            let address = settings.mac?.bytes ?? device.address
            if address != MACAddress.bridgePort.bytes && (settings.mac != nil || settings.bridge != nil) {
                throw .accessDenied(device.name, .portAddress(required: MACAddress.bridgePort, bridge: bridge.name))
            }
        }
    }
}

extension TapControl {
    /// The gate this control's privileged changes pass.
    var gate: Gate { Gate(system: system, policy: policy, helperMode: helperMode) }
}
