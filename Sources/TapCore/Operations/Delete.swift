import Glibc
import CTapShim
import SystemPackage
import TapSystem
import TapDataPath

/// Which devices `delete` removes, or `dump` prints.
public enum DeviceSelection: Equatable, Sendable {
    case names([InterfaceName])
    /// Every tun/tap device in the namespace.
    case all
    /// Every tun/tap device whose name matches a shell pattern (fnmatch).
    case matching(String)

    /// The selection names each device (rather than a pattern or all).
    var namesEach: Bool {
        if case .names = self { return true }
        return false
    }
}

extension TapControl {
    /// Removes persistent tun/tap devices, finding each one's mode and flags itself.
    ///
    /// Every device is checked first (exists, is tun/tap, no process holds it),
    /// so a bad one deletes nothing. With CAP_NET_ADMIN they then go in one
    /// batched unregister: each is put in a fresh device group and the group is
    /// deleted with one RTM_DELLINK, as `ip link del group` does; one by one,
    /// every unregister pays a cost that a batch pays once. Without it, each
    /// goes through a queue of its own: attach with its flags, clear persist,
    /// close, which its owner may do. Privileged-helper mode always takes that
    /// path, so the kernel's owner check decides, and names each device.
    /// Returns the names removed.
    public func delete(_ selection: DeviceSelection, missingOK: Bool = false) throws(TapError) -> [String] {
        if policy != nil, !selection.namesEach {
            throw .accessDenied(nil, .unnamedDelete)
        }
        var socket = try RouteSocket(system: system)
        let everything = try socket.links()
        let targets = try select(selection, from: everything, missingOK: missingOK)
        // In use: a holder in /proc (one may have turned the carrier off), or a
        // queue the kernel reports, whether or not its holder is visible here.
        let holders = Holders.scan(system: system)
        for link in targets {
            guard let tun = link.tun else { continue }
            if let held = holders[link.name] ?? (tun.mayBeHeld ? [] : nil) { throw .inUse(link.name, holders: held) }
        }
        guard !targets.isEmpty else { return [] }
        let batched = policy == nil ? try removeInOneBatch(targets, among: everything, socket: &socket) : false
        if !batched {
            // One by one, each through a queue: every one must be the caller's before the first goes.
            for link in targets {
                if let tun = link.tun {
                    try policy?.device(link.name)
                    try mayAttach(tun)
                }
            }
            var removed: [String] = []
            for link in targets {
                guard let tun = link.tun else { continue }
                do {
                    try remove(tun)
                } catch {
                    // Something changed since the check (another user's doing): say what went before it.
                    throw removed.isEmpty ? error : .partlyDone(error, done: removed)
                }
                removed.append(link.name)
            }
        }
        return targets.map(\.name)
    }

    func select(_ selection: DeviceSelection, from links: [Link], missingOK: Bool) throws(TapError) -> [Link] {
        switch selection {
        case .all:
            return links.filter { $0.tun != nil }
        case .matching(let pattern):
            let matches = links.filter { $0.tun != nil && fnmatch(pattern, $0.name, 0) == 0 }
            if matches.isEmpty && !missingOK { throw .noMatch(pattern) }
            return matches
        case .names(let names):
            let byName = Dictionary(links.map { (NameBytes($0.name), $0) }, uniquingKeysWith: { first, _ in first })
            var chosen: [Link] = []
            for name in names where !chosen.contains(where: { name.names($0.name) }) {
                guard let link = byName[NameBytes(name.value)] else {
                    if missingOK { continue }
                    throw .notFound(name.value)
                }
                guard link.tun != nil else { throw .notTunTap(name.value, kind: link.kind) }
                chosen.append(link)
            }
            return chosen
        }
    }

    /// The batched path; false when rtnetlink refuses (no CAP_NET_ADMIN) before anything changed.
    private func removeInOneBatch(_ targets: [Link], among links: [Link], socket: inout RouteSocket) throws(TapError) -> Bool {
        let used = Set(links.compactMap(\.group))
        var generator = SystemRandomNumberGenerator()
        var group: UInt32
        repeat { group = UInt32.random(in: 0x1000_0000...0x7fff_ffff, using: &generator) } while used.contains(group)
        func regroup(_ link: Link, _ group: UInt32) -> LinkRequest {
            LinkRequest(type: UInt16(RTM_NEWLINK), index: link.index,
                        attributes: [Netlink.Attribute(type: UInt16(IFLA_GROUP), uint32: group)])
        }
        let results = try socket.change(targets.map { regroup($0, group) })
        let moved = zip(targets, results).filter { $0.1 == nil }.map(\.0)
        if let failure = results.compactMap({ $0 }).first {
            _ = try? socket.change(moved.map { regroup($0, $0.group ?? 0) })
            if failure == .notPermitted && moved.isEmpty { return false }
            throw .system(.link(.group), failure)
        }
        let deletion = LinkRequest(type: UInt16(RTM_DELLINK), attributes: [Netlink.Attribute(type: UInt16(IFLA_GROUP), uint32: group)])
        if let failure = try socket.change([deletion])[0] {
            _ = try? socket.change(moved.map { regroup($0, $0.group ?? 0) })
            throw .system(.link(.delete), failure)
        }
        return true
    }

    /// Through a queue of its own, attached without CAP_NET_ADMIN (see `attach`).
    private func remove(_ link: TunLink) throws(TapError) {
        let device = try attach(link)
        do {
            try device.queue.descriptor.setPersistent(false)
        } catch {
            throw .system(.ioctl(.TUNSETPERSIST), error)
        }
    }
}
