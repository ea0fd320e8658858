import Glibc
import CLibcap
import CTapShim

/// Raising a capability into the effective set and lowering it again. Its
/// functions are private to this file, so the gate below is the only code in
/// TapCore that can raise one: a rule the compiler keeps, not a convention.
/// Tests substitute one through `SystemCalls.capabilities`.
public struct CapabilityRaiser: Sendable {
    fileprivate let netAdmin: @Sendable (_ on: Bool) -> CInt
    fileprivate let sysAdmin: @Sendable (_ on: Bool) -> CInt

    /// A raiser of CAP_NET_ADMIN and CAP_SYS_ADMIN: each closure raises (true) or
    /// lowers (false) its capability, -1 with errno set when it cannot.
    public init(netAdmin: @escaping @Sendable (_ on: Bool) -> CInt, sysAdmin: @escaping @Sendable (_ on: Bool) -> CInt) {
        self.netAdmin = netAdmin
        self.sysAdmin = sysAdmin
    }

    /// libcap's, on the calling thread (tapctl has one).
    public static let live = CapabilityRaiser(netAdmin: { setEffective(CAP_NET_ADMIN, $0) },
                                              sysAdmin: { setEffective(CAP_SYS_ADMIN, $0) })
}

private func setEffective(_ capability: cap_value_t, _ on: Bool) -> CInt {
    guard let current = cap_get_proc() else { return -1 }
    defer { cap_free(UnsafeMutableRawPointer(current)) }
    var value = [capability]
    guard cap_set_flag(current, CAP_EFFECTIVE, 1, &value, on ? CAP_SET : CAP_CLEAR) == 0 else { return -1 }
    return cap_set_proc(current)
}

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

    /// Runs `body` with CAP_NET_ADMIN effective, once `change` is authorized.
    func withNetAdmin<T>(_ change: PrivilegedChange, _ body: () throws(TapError) -> T) throws(TapError) -> T {
        try authorize(change)
        return try raised(system.capabilities.netAdmin, effective: system.netAdminEffective(), "CAP_NET_ADMIN", body)
    }

    /// Runs `body` with CAP_SYS_ADMIN effective (setns and unshare), once
    /// `change` is authorized; where it is not permitted, `body` meets the
    /// kernel's refusal.
    func withSysAdmin<T>(_ change: PrivilegedChange, _ body: () throws(TapError) -> T) throws(TapError) -> T {
        try authorize(change)
        return try raised(system.capabilities.sysAdmin, effective: system.sysAdminEffective(), "CAP_SYS_ADMIN", body)
    }

    /// Whether CAP_SYS_ADMIN is effective or can be raised: whether this
    /// process can make and leave a network namespace of its own.
    func canEnterNamespaces() -> Bool {
        guard !system.sysAdminEffective() else { return true }
        guard system.capabilities.sysAdmin(true) == 0 else { return false }
        return system.capabilities.sysAdmin(false) == 0
    }

    private func raised<T>(_ raise: @Sendable (Bool) -> CInt, effective: Bool, _ name: String,
                           _ body: () throws(TapError) -> T) throws(TapError) -> T {
        // Effective already (root), or not permitted (an ordinary user): nothing to raise.
        guard !effective, raise(true) == 0 else { return try body() }
        let result: Result<T, TapError>
        do {
            result = .success(try body())
        } catch {
            result = .failure(error)
        }
        guard raise(false) == 0 else { throw .capabilities("lowering \(name)", .current) }
        return try result.get()
    }

    /// Throws unless the access list allows `change` as a whole.
    func authorize(_ change: PrivilegedChange) throws(TapError) {
        guard let policy else { return }
        switch change.action {
        case .identify, .move, .discard, .privateNamespace:
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
            throw .accessDenied(name, "tapctl made \(made) devices for you already, and \(AccessList.path) allows \(policy.limits.devices)")
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
                throw .accessDenied(device.name, "\(device.name) would be bridge \(bridge.name)'s only port, and a bridge takes "
                                    + "its only port's address and MTU; in privileged-helper mode a bridge needs another port first")
            }
            let mtu = settings.mtu ?? device.mtu ?? LinkSettings.defaultMTU
            if let bridgeMTU = bridge.mtu, mtu < bridgeMTU {
                throw .accessDenied(device.name, "MTU \(mtu) is below bridge \(bridge.name)'s \(bridgeMTU), "
                                    + "and in privileged-helper mode a port cannot lower its bridge's MTU")
            }
            // A bridge whose MTU follows its ports has the lowest of theirs: a port at that MTU that
            // no other port shares holds it down, and raising it would raise the bridge.
            if let bridgeMTU = bridge.mtu, settings.bridge == nil, mtu > bridgeMTU, device.mtu == bridgeMTU,
               !others.contains(where: { $0.mtu == bridgeMTU }) {
                throw .accessDenied(device.name, "raising \(device.name)'s MTU would raise bridge \(bridge.name)'s, "
                                    + "and in privileged-helper mode a port cannot change its bridge's MTU")
            }
            let address = settings.mac?.bytes ?? device.address
            if address != MACAddress.bridgePort.bytes && (settings.mac != nil || settings.bridge != nil) {
                throw .accessDenied(device.name, "in privileged-helper mode a bridge port's address is \(MACAddress.bridgePort), "
                                    + "so that it never becomes bridge \(bridge.name)'s")
            }
        }
    }
}

extension TapControl {
    /// The gate this control's privileged changes pass.
    var gate: Gate { Gate(system: system, policy: policy) }
}
