import Glibc
import CTapShim
import SystemPackage
import TapSystem
import TapDataPath

/// What `apply` did, or with `check` would do, to one device.
public struct AppliedDevice: Equatable, Sendable {
    /// Created, changed in place, unchanged, replaced (deleted and made again), deleted by
    /// `prune`, kept (a device `prune` matches that a process holds), or not converged (`error`).
    public enum Action: String, Sendable {
        case created, changed, unchanged, replaced, deleted, kept, error
    }

    /// The device's name.
    public var name: String
    /// What was done, or with `check` would be.
    public var action: Action
    /// What differs, field by field ("mtu" from 1500 to 9000).
    public var fields: [Change] = []
    /// Why the device did not converge; set with `.error` only.
    public var error: TapError?
    /// `kept`: the processes holding it (those this caller can see).
    public var holders: [Holder]?
    /// Under `bridgesLater`: the bridge left for a later apply, which does not exist yet.
    public var bridgeLater: String?

    /// One field that differs: its name, as `dump` and `list` name it, and its value before and after.
    public typealias Change = SettingChange
}

extension TapControl {
    /// The link settings of `declared` that differ from `current`: what to
    /// apply, and each change, as `apply` and `create --exist-ok` report them.
    /// A bridge named that does not exist is `noSuchBridge`.
    func linkChanges(_ declared: LinkSettings, current: Link,
                     links: [Link]) throws(TapError) -> (settings: LinkSettings, changes: [AppliedDevice.Change]) {
        var settings = LinkSettings()
        var changes: [AppliedDevice.Change] = []
        if let mtu = declared.mtu, mtu != current.mtu {
            settings.mtu = mtu
            changes.append(.init("mtu", .number(current.mtu), .number(mtu)))
        }
        if let mac = declared.mac, mac.bytes != current.address {
            settings.mac = mac
            changes.append(.init("mac", .text(current.address.map { MACAddress(bytes: $0).description }), .text(mac.description)))
        }
        if let length = declared.txQueueLength, length != current.txQueueLength {
            settings.txQueueLength = length
            changes.append(.init("txqueuelen", .number(current.txQueueLength), .number(length)))
        }
        if case .attach(let bridge)? = declared.bridge {
            guard let joined = links.first(where: { NameBytes($0.name) == NameBytes(bridge) }) else { throw .noSuchBridge(bridge) }
            if current.master != joined.index {
                settings.bridge = .attach(bridge)
                let master = current.master.flatMap { index in links.first { $0.index == index }?.name }
                changes.append(.init("bridge", .text(master), .text(bridge)))
            }
        }
        if let up = declared.up, up != (current.flags & UInt32(IFF_UP) != 0) {
            settings.up = up
            changes.append(.init("up", .flag(!up), .flag(up)))
        }
        return (settings, changes)
    }
}

/// How `apply` may converge the namespace.
public struct ApplyOptions: Sendable {
    /// Change nothing; say what would change.
    public var check = false
    /// Delete and make again an idle device whose mode, multiqueue flag, or
    /// owner or group to remove differ (which no call changes in place).
    public var replace = false
    /// Delete the idle tun/tap devices matching this shell pattern that are
    /// not declared.
    public var prune: String?
    /// A bridge a line names that does not exist yet is left for later: the
    /// device is made and configured without it, and says so. For early boot,
    /// before the bridges exist.
    public var bridgesLater = false
    /// Seconds to wait for the bridges that do not exist yet: each device
    /// that needs one converges as soon as its bridge appears. For the boot
    /// unit that runs once the network is up.
    public var waitForBridges: Int?

    /// Check, replace and prune all off.
    public init() {}
}

extension TapControl {
    /// Converges this namespace's tun/tap devices to `declared`, each a device
    /// as `create` would make it. Every declaration is checked before the first
    /// change. Then each device is made if missing; changed in place where
    /// that disturbs no holder (link settings over rtnetlink; vnet_hdr, pi,
    /// owner and group through a queue of an idle device); made again under
    /// `replace` when what differs cannot change in place; or reported. A
    /// device whose change fails is put back as it was: each device ends as
    /// it was or as declared, never between. Devices not declared are left
    /// alone, but for idle ones that `prune` matches.
    public func apply(_ declared: [CreateRequest], options: ApplyOptions) throws(TapError) -> [AppliedDevice] {
        var names: Set<NameBytes> = []
        for request in declared {
            guard !request.name.isTemplate else {
                throw .badDeclaration(request.name.value, .template)
            }
            guard names.insert(NameBytes(request.name.value)).inserted else {
                throw .badDeclaration(request.name.value, .declaredTwice)
            }
            try checkDeclaration(request)
        }
        if policy != nil, options.prune != nil {
            throw .accessDenied(nil, .prune)
        }
        var socket = try RouteSocket(system: system)
        let links = try socket.links()
        let byName = Dictionary(links.map { (NameBytes($0.name), $0) }, uniquingKeysWith: { first, _ in first })
        var results = declared.map { request in
            converge(request, current: byName[NameBytes(request.name.value)], links: links, options: options)
        }
        if let seconds = options.waitForBridges, !options.check {
            results = try waitForBridges(declared, results, seconds: seconds, options: options)
        }
        if let pattern = options.prune {
            // Devices that live with their holders (exec --create) are never pruned: they are no declared state.
            for link in links where link.tun?.persistent == true && !names.contains(NameBytes(link.name))
                && fnmatch(pattern, link.name, 0) == 0 {
                results.append(prune(link, check: options.check))
            }
        }
        return results
    }

    /// Converges again, as bridges appear, the devices that failed only for
    /// want of their bridge, until none is left or `seconds` have passed.
    private func waitForBridges(_ declared: [CreateRequest], _ first: [AppliedDevice], seconds: Int,
                                options: ApplyOptions) throws(TapError) -> [AppliedDevice] {
        var results = first
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        while true {
            let waiting = results.indices.filter { if case .noSuchBridge? = results[$0].error { return true } else { return false } }
            guard !waiting.isEmpty else { return results }
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            guard now.tv_sec - start.tv_sec < seconds else { return results }
            usleep(250_000)
            var socket = try RouteSocket(system: system)
            let links = try socket.links()
            for index in waiting {
                guard case .noSuchBridge(let bridge)? = results[index].error,
                      links.contains(where: { NameBytes($0.name) == NameBytes(bridge) }),
                      let request = declared.first(where: { $0.name.names(results[index].name) }) else { continue }
                let current = links.first { NameBytes($0.name) == NameBytes(request.name.value) }
                results[index] = converge(request, current: current, links: links, options: options)
            }
        }
    }

    /// Plans one device, and unless `check` carries the plan out. Everything
    /// that would make the change fail and can be known before it (a busy
    /// device, a missing bridge, a capability or ownership the caller lacks,
    /// the access list and its bridge rules) is found in the plan, which
    /// `check` and the change share: `check` says what apply then does.
    private func converge(_ request: CreateRequest, current: Link?, links: [Link], options: ApplyOptions) -> AppliedDevice {
        var request = request
        var later: String?
        if options.bridgesLater, case .attach(let bridge)? = request.link.bridge,
           !links.contains(where: { NameBytes($0.name) == NameBytes(bridge) }) {
            // Made without it now; a later apply (the unit after the network) joins it.
            request.link.bridge = nil
            later = bridge
        }
        var result = convergeNow(request, current: current, links: links, options: options)
        if let later, result.action != .error { result.bridgeLater = later }
        return result
    }

    private func convergeNow(_ request: CreateRequest, current: Link?, links: [Link], options: ApplyOptions) -> AppliedDevice {
        let name = request.name.value
        var result = AppliedDevice(name: name, action: .error)
        do throws(TapError) {
            // In helper mode a declared device is the caller's, as one it creates is.
            try policy?.device(name)
            try policy?.checkOwnership(request)
            guard let current else {
                try planCreation(request)
                result.action = .created
                if !options.check { _ = try create(request) }
                return result
            }
            guard let tun = current.tun else { throw .notTunTap(name, kind: current.kind) }
            let difference = try differences(request, current: current, tun: tun, links: links)
            result.fields = difference.hard + difference.inPlace
            if !difference.hard.isEmpty {
                guard options.replace else { throw .cannotChangeInPlace(name, differences: difference.hard) }
                if tun.mayBeHeld { throw .inUse(name, holders: Holders.scan(system: system)[name] ?? []) }
                try mayAttach(tun)  // the delete goes through a queue of the device
                // What the line leaves out is kept: the new device takes the old one's link state.
                let replacement = carryingOver(request, from: current, links: links)
                try planCreation(replacement)
                result.action = .replaced
                if !options.check {
                    _ = try delete(.names([request.name]))
                    _ = try create(replacement)
                }
                return result
            }
            guard !difference.inPlace.isEmpty else {
                result.action = .unchanged
                return result
            }
            let settings = try planChange(request, current: current, tun: tun, difference: difference)
            result.action = .changed
            if !options.check { try change(request, current: current, tun: tun, difference: difference, settings: settings) }
        } catch {
            result.action = .error
            result.error = error
        }
        return result
    }

    /// The mistakes a declaration can hold by itself, whatever the host:
    /// values out of range, a tun on a bridge. They stop the whole file
    /// (`apply`); what depends on the host as it is now (a bridge that does
    /// not exist yet, a busy device) fails its device alone.
    public func checkDeclaration(_ request: CreateRequest) throws(TapError) {
        if case .attach? = request.link.bridge, request.mode == .tun {
            throw .notEthernet(.bridge)
        }
        var file = request.link
        file.bridge = nil
        if !file.isEmpty { _ = try validate(file, device: nil, mode: request.mode) }
    }

    /// `request`, with the link settings it leaves out taken from `current`
    /// (MTU, address, queue length, bridge, up), so that replacing a device
    /// changes only what its line declares.
    private func carryingOver(_ request: CreateRequest, from current: Link, links: [Link]) -> CreateRequest {
        var replacement = request
        var link = replacement.link
        if link.mtu == nil { link.mtu = current.mtu }
        if link.mac == nil, request.mode == .tap { link.mac = current.address.map(MACAddress.init(bytes:)) }
        if link.txQueueLength == nil { link.txQueueLength = current.txQueueLength }
        if link.up == nil, current.flags & UInt32(IFF_UP) != 0 { link.up = true }
        if link.bridge == nil, let master = current.master, let bridge = links.first(where: { $0.index == master }),
           bridge.kind == "bridge", request.mode == .tap {
            link.bridge = .attach(bridge.name)
        }
        replacement.link = link
        return replacement
    }

    /// Whether this caller may make `request` here, as `create` would find out.
    private func planCreation(_ request: CreateRequest) throws(TapError) {
        if !helperMode && !system.privileges.isEffective(.netAdmin) { throw .needsNetAdmin(request.name.value) }
        if !request.link.isEmpty { _ = try validate(request.link, device: nil, mode: request.mode) }
        try gate.authorize(PrivilegedChange(action: .create(request, owner: uid(of: request.owner))))
    }

    /// The in-place change, checked as it will be made; returns the link
    /// settings to apply.
    private func planChange(_ request: CreateRequest, current: Link, tun: TunLink,
                            difference: Difference) throws(TapError) -> LinkSettings {
        if !difference.tun.isEmpty {
            if tun.mayBeHeld {
                throw .cannotChangeInPlace(request.name.value, differences: difference.tun, inUse: true)
            }
            try mayAttach(tun)
        }
        guard let first = difference.settings.steps.first else { return difference.settings }
        if !helperMode && !system.privileges.isEffective(.netAdmin) {
            throw .settingRefused(request.name.value, setting: first, nil, applied: [])
        }
        let settings = try validate(difference.settings, device: current, mode: tun.mode)
        try gate.authorize(PrivilegedChange(action: .configure(settings, device: current)))
        return settings
    }

    /// What differs between a declaration and the device, field by field.
    private struct Difference {
        /// What no call changes in place: only --replace converges it.
        var hard: [AppliedDevice.Change] = []
        /// Changed through a queue of the device, which must be idle.
        var tun: [AppliedDevice.Change] = []
        /// The link settings that differ, changed over rtnetlink.
        var link: [AppliedDevice.Change] = []
        /// Those link settings, to apply.
        var settings = LinkSettings()
        var owner: uid_t?
        var group: gid_t?

        /// What can change in place, in the order it is changed.
        var inPlace: [AppliedDevice.Change] { tun + link }
    }

    private func differences(_ request: CreateRequest, current: Link, tun: TunLink, links: [Link]) throws(TapError) -> Difference {
        var difference = Difference()
        if tun.mode != request.mode { difference.hard.append(.init("mode", .text(tun.mode.rawValue), .text(request.mode.rawValue))) }
        if tun.multiQueue != request.multiQueue {
            difference.hard.append(.init("multi_queue", .flag(tun.multiQueue), .flag(request.multiQueue)))
        }
        let owner = uid(of: request.owner)
        // The kernel cannot unset an owner or group (-1 is EINVAL).
        if owner != tun.owner {
            let change = AppliedDevice.Change("owner", .user(tun.owner), .user(owner))
            if owner == nil { difference.hard.append(change) } else { difference.tun.append(change) }
            difference.owner = owner
        }
        if request.group != tun.group {
            let change = AppliedDevice.Change("group", .group(tun.group), .group(request.group))
            if request.group == nil { difference.hard.append(change) } else { difference.tun.append(change) }
            difference.group = request.group
        }
        if tun.vnetHeader != request.vnetHeader {
            difference.tun.append(.init("vnet_hdr", .flag(tun.vnetHeader), .flag(request.vnetHeader)))
        }
        if tun.packetInfo != request.packetInfo {
            difference.tun.append(.init("pi", .flag(tun.packetInfo), .flag(request.packetInfo)))
        }
        (difference.settings, difference.link) = try linkChanges(request.link, current: current, links: links)
        return difference
    }

    /// Changes a device in place, and on a failure puts back what was changed.
    private func change(_ request: CreateRequest, current: Link, tun: TunLink, difference: Difference,
                        settings: LinkSettings) throws(TapError) {
        if !difference.tun.isEmpty {
            if tun.mayBeHeld {
                throw .cannotChangeInPlace(request.name.value, differences: difference.tun, inUse: true)
            }
            try setTunAttributes(of: tun, vnetHeader: request.vnetHeader, packetInfo: request.packetInfo,
                                 owner: difference.owner, group: difference.group)
        }
        guard !settings.isEmpty else { return }
        do {
            if policy != nil {
                // Helper mode changes a device only through a queue of it: an idle one the kernel lets the caller attach.
                _ = try set(settings, on: .name(request.name))
            } else {
                _ = try apply(settings, to: current)
            }
        } catch {
            var previous = LinkSettings()
            if difference.settings.mtu != nil { previous.mtu = current.mtu }
            if difference.settings.mac != nil { previous.mac = current.address.map(MACAddress.init(bytes:)) }
            if difference.settings.txQueueLength != nil { previous.txQueueLength = current.txQueueLength }
            if difference.settings.up != nil { previous.up = current.flags & UInt32(IFF_UP) != 0 }
            if difference.settings.bridge != nil {
                var socket = try RouteSocket(system: system)
                previous.bridge = try current.master.flatMap { (index) throws(TapError) in try socket.link(index: index) }
                    .map { .attach($0.name) } ?? .detach
            }
            _ = try? apply(previous, to: current)
            if !difference.tun.isEmpty {
                try? setTunAttributes(of: tun, vnetHeader: tun.vnetHeader, packetInfo: tun.packetInfo, owner: tun.owner,
                                      group: tun.group)
            }
            throw error
        }
    }

    /// vnet_hdr and pi, which attaching with other flags rewrites, and owner
    /// and group, through a queue of the idle device, closed again.
    private func setTunAttributes(of tun: TunLink, vnetHeader: Bool, packetInfo: Bool, owner: uid_t?, group: gid_t?)
        throws(TapError) {
        var wanted = tun
        wanted.vnetHeader = vnetHeader
        wanted.packetInfo = packetInfo
        let device = try attach(wanted)
        do throws(Errno) {
            if let owner, owner != tun.owner { try device.queue.descriptor.setOwner(owner) }
            if let group, group != tun.group { try device.queue.descriptor.setGroup(group) }
        } catch {
            throw error == .invalidArgument ? .unmappedID(uid: owner, gid: group) : .system(.ioctl(.TUNSETOWNER), error)
        }
    }

    /// A device `prune` matches: deleted when idle; one a process holds is a
    /// VM's, reported and kept.
    private func prune(_ link: Link, check: Bool) -> AppliedDevice {
        var result = AppliedDevice(name: link.name, action: .deleted)
        do throws(TapError) {
            if link.tun?.mayBeHeld == true {
                result.action = .kept
                result.holders = Holders.scan(system: system)[link.name] ?? []
                return result
            }
            guard let name = try? InterfaceName(link.name, allowTemplate: false) else { throw .notTunTap(link.name, kind: link.kind) }
            if !check { _ = try delete(.names([name])) }
        } catch {
            result.action = .error
            result.error = error
        }
        return result
    }
}

extension TapControl {
    /// The devices as declarations `apply` converges them to, so that a fresh
    /// dump applied changes nothing: every flag `create` takes, the owner and
    /// group (none as none), and the link settings (up only when up; bridge
    /// when a bridge's port). In privileged-helper mode, only the devices the
    /// access list allows the caller.
    public func dump(_ selection: DeviceSelection) throws(TapError) -> [CreateRequest] {
        var socket = try RouteSocket(system: system)
        let links = try socket.links()
        return try select(selection, from: links, missingOK: false).compactMap { link in
            // A device that lives as long as its holder is no declared state: apply makes persistent ones.
            guard let tun = link.tun, tun.persistent, let name = try? InterfaceName(link.name, allowTemplate: false) else {
                return nil
            }
            if let policy, !policy.rules.allows(.device, link.name, user: policy.uid, groups: policy.groups) { return nil }
            var request = CreateRequest(name: name)
            request.mode = tun.mode
            request.multiQueue = tun.multiQueue
            request.vnetHeader = tun.vnetHeader
            request.packetInfo = tun.packetInfo
            request.owner = tun.owner.map { .user($0) } ?? .none
            request.group = tun.group
            request.link.mtu = link.mtu
            request.link.mac = tun.mode == .tap ? link.address.map(MACAddress.init(bytes:)) : nil
            request.link.txQueueLength = link.txQueueLength
            request.link.up = link.flags & UInt32(IFF_UP) != 0 ? true : nil
            if let master = link.master, let bridge = links.first(where: { $0.index == master }), bridge.kind == "bridge" {
                request.link.bridge = .attach(bridge.name)
            }
            return request
        }
    }
}
