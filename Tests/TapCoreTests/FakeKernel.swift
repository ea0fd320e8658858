import Glibc
import CTapShim
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@_spi(Gate) @testable import TapSystem

/// A kernel stand-in: records every call and fails the ones it is told to.
final class FakeKernel: @unchecked Sendable {
    var calls: [String] = []
    var failures: [String: [Errno]] = [:]
    var closed: [CInt] = []
    /// What was closed besides the netlink sockets (fd 1000 here).
    var closedFiles: [CInt] { closed.filter { $0 != 1000 } }
    /// Paths opened, in order; each open gets the next number from 100.
    var opened: [String] = []
    /// Descriptors the fake process already has open.
    var openDescriptors: Set<CInt> = [0, 1, 2]
    /// Whether the devices are in the caller's network namespace (TUNGETDEVNETNS
    /// answers with a descriptor of it), in another, or the kernel refuses to say.
    var deviceNamespace: DeviceNamespace = .current
    var duplicated: [(CInt, CInt)] = []
    private var nextHigh: CInt = 200
    /// rtnetlink: each datagram sent, errors to answer by request number, and
    /// the queues a device it describes has.
    var datagrams: [[Netlink.Message]] = []
    var netlinkFailures: [Int: Errno] = [:]
    var deviceQueues: UInt32 = 1
    private var requests = 0
    private var pending: [UInt8] = []
    /// Fail the call with this number (every system call and netlink request
    /// counts, from 0) with `failWith`; `position` counts as they happen.
    var failAt: Int?
    var failWith = Errno.invalidArgument
    private(set) var position = 0
    /// Positions that were netlink requests, whose "errno" is the kernel's
    /// answer, not an interrupted system call.
    private(set) var netlinkPositions: Set<Int> = []

    /// A namespace of devices by name, for tests about which device a name
    /// means. When set, RTM_GETLINK answers from it (ENODEV for a name it
    /// lacks), TUNSETIFF on an existing name attaches with the kernel's owner
    /// check, which CAP_NET_ADMIN in effect skips, and TUNGETIFF names the
    /// device a queue holds.
    struct Device {
        var index: Int32
        var owner: UInt32?
        /// "tun", or "bridge" for a bridge to join.
        var kind = "tun"
    }
    var devices: [String: Device]?
    /// The device the last creating TUNSETIFF made, as TUNSETIFF, TUNSETOWNER
    /// and TUNSETGROUP left it: what RTM_GETLINK then reports for it.
    struct Made {
        var name: String
        var flags: TunFlags
        var owner: UInt32?
        var group: UInt32?
        /// Queues attached to it: the one that made it, and those after.
        var queues: UInt32 = 1
    }
    private(set) var made: Made?
    var euid: UInt32 = 1000
    /// CAP_NET_ADMIN, permitted and effective: root's by default; privileged-
    /// helper mode has it permitted only, until a call raises it.
    var netAdminPermitted = true
    var netAdminEffective = true
    /// The device each descriptor is attached to, by index.
    private(set) var attached: [CInt: Int32] = [:]
    /// Runs once, after the first RTM_GETLINK is answered: the moment another
    /// user changes what a name means.
    var afterFirstLookup: ((FakeKernel) -> Void)?
    /// Frames: what reads return, in order (none left: EAGAIN), and what was written.
    var framesToRead: [[UInt8]] = []
    var framesWritten: [[UInt8]] = []
    /// The flags TUNGETIFF reports and the header size TUNGETVNETHDRSZ does, without `devices`.
    var queueFlags: TunFlags = [.tap, .noPI, .vnetHdr, .multiQueue]
    var vnetHeaderSize: CInt = 12

    /// The next call's injected failure, if it is the one to fail.
    private func injected() -> Errno? {
        defer { position += 1 }
        return position == failAt ? failWith : nil
    }

    /// RTM_NEWLINK replies for a multiqueue tap named in `request`, or from
    /// `devices` when set: the one named, or every one for a dump (none: there
    /// is no such device).
    private func linkReplies(to request: Netlink.Message) -> [UInt8]? {
        let attributes = (try? Netlink.attributes(in: request.payload[16...])) ?? []
        let name: String = attributes.first(where: { $0.type == 3 }).flatMap { $0.string } ?? "tap0"
        guard let devices else { return reply(to: request, name: name, Device(index: 7)) }
        if request.flags & 0x300 != 0 {
            return devices.sorted { $0.value.index < $1.value.index }.flatMap { reply(to: request, name: $0.key, $0.value) }
        }
        let index = Int32(bitPattern: request.payload.count >= 8 ? request.payload.loadNative(UInt32.self, at: 4) : 0)
        if index != 0, !attributes.contains(where: { $0.type == 3 }) {
            return devices.first { $0.value.index == index }.map { reply(to: request, name: $0.key, $0.value) }
        }
        return devices[name].map { reply(to: request, name: name, $0) }
    }

    private func reply(to request: Netlink.Message, name: String, _ device: Device) -> [UInt8] {
        var tun: [Netlink.Attribute] = [
            .init(type: 3, payload: [2]), .init(type: 6, payload: [1]), .init(type: 7, payload: [1]),
            .init(type: 8, uint32: deviceQueues),
        ]
        if let owner = device.owner { tun.append(.init(type: 1, uint32: owner)) }
        if let made, made.name == name {
            tun = [.init(type: 3, payload: [made.flags.contains(.tun) ? 1 : 2]), .init(type: 4, payload: [made.flags.contains(.noPI) ? 0 : 1]),
                   .init(type: 5, payload: [made.flags.contains(.vnetHdr) ? 1 : 0]), .init(type: 6, payload: [1]),
                   .init(type: 7, payload: [made.flags.contains(.multiQueue) ? 1 : 0]), .init(type: 8, uint32: made.queues + deviceQueues - 1)]
            if let owner = made.owner { tun.append(.init(type: 1, uint32: owner)) }
            if let group = made.group { tun.append(.init(type: 2, uint32: group)) }
        }
        var payload = [UInt8](repeating: 0, count: 16)
        payload.replaceSubrange(4..<8, with: withUnsafeBytes(of: device.index.littleEndian, Array.init))
        let info: [Netlink.Attribute] = device.kind == "tun" ? [.init(type: 1, string: "tun"), .init(nested: 2, tun)]
            : [.init(type: 1, string: device.kind)]
        payload += Netlink.encode([.init(type: 3, string: name), .init(type: 4, uint32: 1500), .init(nested: 18, info)])
        return Netlink.Message(type: 16, flags: 0, sequence: request.sequence, payload: payload).encoded
    }

    /// TUNSETIFF and TUNGETIFF against `devices`; other ioctls succeed.
    private func namespaceIoctl(_ fd: CInt, _ request: UInt, _ argument: SystemCalls.IoctlArgument) -> CInt {
        if case .value(let value) = argument {
            if Self.names[request] == "TUNSETOWNER" { made?.owner = UInt32(value) }
            if Self.names[request] == "TUNSETGROUP" { made?.group = UInt32(value) }
            return 0
        }
        guard case .pointer(let pointer) = argument else { return 0 }
        if Self.names[request] == "TUNSETIFF" {
            var bytes = [CChar](repeating: 0, count: Int(IFNAMSIZ))
            let ifr = pointer.assumingMemoryBound(to: ifreq.self)
            ctap_ifreq_name(ifr, &bytes)
            let flags = TunFlags(rawValue: UInt16(bitPattern: ctap_ifreq_flags(ifr)))
            let name = String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if flags.contains(.tunExcl) {
                // With `devices`, the name a template resolves to is recorded where the device is made.
                if devices == nil { made = Made(name: name, flags: flags, owner: nil, group: nil) }
            } else if made?.name == name {
                made?.queues += 1
            }
        }
        if request == ctap_TUNGETVNETHDRSZ() { pointer.storeBytes(of: vnetHeaderSize, as: CInt.self) }
        guard let devices else {
            if Self.names[request] == "TUNGETIFF" {
                ctap_ifreq_set(pointer.assumingMemoryBound(to: ifreq.self), made?.name ?? "tap0", Int16(bitPattern: queueFlags.rawValue))
            }
            return 0
        }
        let ifr = pointer.assumingMemoryBound(to: ifreq.self)
        func fail(_ errno: Errno) -> CInt {
            Errno.current = errno
            return -1
        }
        if Self.names[request] == "TUNGETIFF" {
            guard let index = attached[fd], let name = devices.first(where: { $0.value.index == index })?.key else { return fail(.badFileDescriptorState) }
            ctap_ifreq_set(ifr, name, ctap_ifreq_flags(ifr))
            return 0
        }
        guard Self.names[request] == "TUNSETIFF" else { return 0 }
        var bytes = [CChar](repeating: 0, count: Int(IFNAMSIZ))
        ctap_ifreq_name(ifr, &bytes)
        var name = String(decoding: bytes.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let parts = name.split(separator: "%d", omittingEmptySubsequences: false)
        if parts.count == 2 {
            let candidates = (0..<100).map { String(parts[0]) + String($0) + String(parts[1]) }
            name = candidates.first(where: { !devices.keys.contains($0) }) ?? name
        }
        guard let device = devices[name] else {
            guard netAdminEffective else { return fail(.notPermitted) }
            let index = (devices.values.map(\.index).max() ?? 0) + 1
            self.devices?[name] = Device(index: index, owner: nil)
            made = Made(name: name, flags: TunFlags(rawValue: UInt16(bitPattern: ctap_ifreq_flags(ifr))), owner: nil, group: nil)
            attached[fd] = index
            ctap_ifreq_set(ifr, name, ctap_ifreq_flags(ifr))
            return 0
        }
        if UInt16(bitPattern: ctap_ifreq_flags(ifr)) & UInt16(IFF_TUN_EXCL) != 0 { return fail(.resourceBusy) }
        if let owner = device.owner, owner != euid, !netAdminEffective { return fail(.notPermitted) }
        attached[fd] = device.index
        return 0
    }

    private func answer(_ messages: [Netlink.Message]) {
        datagrams.append(messages)
        for message in messages {
            calls.append(message.type == 18 ? "RTM_GETLINK" : message.type == 17 ? "RTM_DELLINK" : "RTM_NEWLINK")
            netlinkPositions.insert(position)
            let failure = injected() ?? netlinkFailures[requests]
            requests += 1
            if message.type == 18 && failure == nil, let reply = linkReplies(to: message) {
                pending += reply
                if let change = afterFirstLookup {
                    afterFirstLookup = nil
                    change(self)
                }
                if message.flags & 0x300 != 0 {  // a dump ends with NLMSG_DONE
                    pending += Netlink.Message(type: 3, flags: 2, sequence: message.sequence, payload: [0, 0, 0, 0]).encoded
                }
                continue
            }
            var payload: [UInt8] = []
            let missing = message.type == 18 && failure == nil ? Errno.operationNotSupportedByDevice : nil
            payload.appendNative(-((failure ?? missing)?.rawValue ?? 0))
            payload += Array(message.encoded.prefix(16))
            pending += Netlink.Message(type: 2, flags: 0, sequence: message.sequence, payload: payload).encoded
        }
    }

    static let names: [UInt: String] = [
        0x400454ca: "TUNSETIFF", 0x400454cb: "TUNSETPERSIST", 0x400454cc: "TUNSETOWNER",
        0x400454ce: "TUNSETGROUP", 0x800454d2: "TUNGETIFF",
    ]

    private func outcome(_ name: String) -> CInt {
        calls.append(name)
        if let errno = injected() {
            Errno.current = errno
            return -1
        }
        guard var queue = failures[name], !queue.isEmpty else { return 0 }
        Errno.current = queue.removeFirst()
        failures[name] = queue
        return -1
    }

    /// The next frame to read, scattered over `buffers`; EAGAIN when there is none.
    private func readFrame(into buffers: [UnsafeMutableRawBufferPointer]) -> Int {
        guard outcome("read") == 0 else { return -1 }
        guard !framesToRead.isEmpty else {
            Errno.current = Errno(rawValue: EAGAIN)
            return -1
        }
        var frame = framesToRead.removeFirst()[...]
        var count = 0
        for buffer in buffers {
            let part = frame.prefix(buffer.count)
            buffer.copyBytes(from: part)
            count += part.count
            frame = frame.dropFirst(part.count)
        }
        return count
    }

    var system: SystemCalls {
        var system = SystemCalls.live
        system.open = { path, _ in
            // Nothing of the host's /proc.
            if String(cString: path) == "/proc" || String(cString: path).hasPrefix("/proc/") {
                Errno.current = .noSuchFileOrDirectory
                return -1
            }
            guard self.outcome("open") == 0 else { return -1 }
            self.opened.append(String(cString: path))
            return 99 + CInt(self.opened.count)
        }
        system.fcntl = { fd, command, argument in
            switch command {
            case F_GETFD:
                if self.openDescriptors.contains(fd) { return 0 }
                Errno.current = .badFileDescriptor
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
        system.ioctl = { fd, request, argument in
            if request == ctap_TUNGETDEVNETNS() {
                guard self.outcome("TUNGETDEVNETNS") == 0 else { return -1 }
                if self.deviceNamespace == .unverified {
                    Errno.current = .notPermitted
                    return -1
                }
                self.opened.append("TUNGETDEVNETNS")
                return 99 + CInt(self.opened.count)
            }
            let result = self.outcome(Self.names[request] ?? "ioctl \(request)")
            return result == 0 ? self.namespaceIoctl(fd, request, argument) : result
        }
        system.read = { _, buffer in self.readFrame(into: [buffer]) }
        system.readv = { _, vectors in
            self.readFrame(into: vectors.map { UnsafeMutableRawBufferPointer(start: $0.iov_base, count: $0.iov_len) })
        }
        system.write = { _, buffer in
            guard self.outcome("write") == 0 else { return -1 }
            self.framesWritten.append(Array(buffer))
            return buffer.count
        }
        system.writev = { _, vectors in
            guard self.outcome("writev") == 0 else { return -1 }
            let frame = vectors.flatMap { Array(UnsafeRawBufferPointer(start: $0.iov_base, count: $0.iov_len)) }
            self.framesWritten.append(frame)
            return frame.count
        }
        system.isCurrentNetworkNamespace = { _ in self.deviceNamespace == .current }
        system.setNetworkNamespace = { _ in self.outcome("setns") }
        system.unshareNetworkNamespace = {
            Errno.current = .notPermitted
            return -1
        }
        // No CAP_SYS_ADMIN: devices are made here, as a cap_net_admin install makes them.
        var privileges = system.privileges
        privileges.isEffective = { capability in capability == .netAdmin && self.netAdminEffective }
        privileges.isPermitted = { capability in capability == .netAdmin && self.netAdminPermitted }
        privileges.setEffective = { capability, on in
            guard capability == .netAdmin else {
                Errno.current = .notPermitted
                return -1
            }
            self.calls.append(on ? "raise CAP_NET_ADMIN" : "lower CAP_NET_ADMIN")
            guard !on || self.netAdminPermitted else {
                Errno.current = .notPermitted
                return -1
            }
            self.netAdminEffective = on
            return 0
        }
        system.privileges = privileges
        // Nothing of the host: no /proc, no other processes, a fixed kernel.
        system.directoryEntries = { _ in [] }
        system.readlinkat = { _, _, _ in
            Errno.current = .noSuchFileOrDirectory
            return -1
        }
        system.kernelRelease = { "6.1.0-fake" }
        system.stat = { _, _, _ in
            Errno.current = .noSuchFileOrDirectory
            return -1
        }
        system.processID = { 4242 }
        system.socket = { _, _, _ in self.outcome("socket") == 0 ? 1000 : -1 }
        system.send = { _, buffer, _ in
            self.answer((try? Netlink.messages(in: Array(buffer))) ?? [])
            return buffer.count
        }
        system.connect = { _, _ in self.outcome("connect") }
        system.sendmsg = { _, message, _ in
            guard self.outcome("sendmsg") == 0 else { return -1 }
            return message.pointee.msg_iov.pointee.iov_len
        }
        system.poll = { _, _, _ in self.outcome("poll") == 0 ? 1 : -1 }
        system.recv = { _, buffer, _ in
            let count = min(buffer.count, self.pending.count)
            buffer.copyBytes(from: self.pending.prefix(count))
            self.pending.removeFirst(count)
            return count
        }
        return system
    }
}

