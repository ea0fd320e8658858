// A program for the kernel tests to run under `tapctl exec`: it reports what it
// inherited, or talks through an inherited tap queue. Test-only; not installed.
import Foundation
import Glibc
@testable import TapCore
@testable import TapDataPath
import CTapShim
import SystemPackage
@testable import TapSystem

/// One JSON object: every open descriptor (with the tap behind it, "" for
/// others), the capability sets, ids, and the TAPCTL_ environment.
func report() {
    var fds: [String: String] = [:]
    for fd: CInt in 0..<1024 where fcntl(fd, F_GETFD) >= 0 {
        fds[String(fd)] = (try? TapControl().interface(ofDescriptor: FileDescriptor(rawValue: fd)).name) ?? ""
    }
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    var fields: [String: String] = [:]
    for line in status.split(separator: "\n") where line.hasPrefix("Cap") || line.hasPrefix("NoNewPrivs") {
        let parts = line.split(separator: ":", maxSplits: 1)
        fields[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces)
    }
    var groups = [gid_t](repeating: 0, count: 64)
    let count = getgroups(64, &groups)
    let environment = ProcessInfo.processInfo.environment.filter { $0.key.hasPrefix("TAPCTL_") }
    let object: [String: Any] = [
        "pid": Int(getpid()), "fds": fds, "status": fields, "uid": Int(getuid()), "euid": Int(geteuid()),
        "gid": Int(getgid()), "groups": groups.prefix(Int(max(count, 0))).map { Int($0) }, "env": environment,
        "args": Array(CommandLine.arguments.dropFirst(2)),
    ]
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    print(String(decoding: data, as: UTF8.self))
}

/// Sends an ARP request for 10.99.0.1 through the tap queue `fd` and waits for
/// the kernel's reply: proof that frames cross the inherited descriptor.
func arp(_ fd: CInt) -> Int32 {
    let tun = TunDescriptor(fd)
    guard let flags = try? tun.interface().flags else { return 2 }
    let header = flags.contains(.vnetHdr) ? ((try? tun.vnetHeaderSize()) ?? 10) : 0
    let mac: [UInt8] = [0x02, 0, 0, 0, 0, 0x01]
    var frame = [UInt8](repeating: 0, count: header)
    frame += [UInt8](repeating: 0xff, count: 6) + mac + [0x08, 0x06]
    frame += [0, 1, 0x08, 0, 6, 4, 0, 1] + mac + [10, 99, 0, 2] + [UInt8](repeating: 0, count: 6) + [10, 99, 0, 1]
    guard frame.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == frame.count else { return 3 }
    var buffer = [UInt8](repeating: 0, count: 65536)
    for _ in 0..<50 {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, 100) >= 0 else { return 4 }
        guard entry.revents & Int16(POLLIN) != 0 else { continue }
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        let body = buffer[header..<max(header, count)]
        // An ARP reply (ethertype 0x0806, op 2) from 10.99.0.1 to our MAC.
        if body.count >= 42, Array(body[body.startIndex..<body.startIndex + 6]) == mac,
           body[body.startIndex + 12] == 0x08, body[body.startIndex + 13] == 0x06,
           body[body.startIndex + 21] == 2, Array(body[(body.startIndex + 28)..<(body.startIndex + 32)]) == [10, 99, 0, 1] {
            print("arp reply from \(body[(body.startIndex + 22)..<(body.startIndex + 28)].map { String($0, radix: 16) }.joined(separator: ":"))")
            return 0
        }
    }
    print("no arp reply")
    return 1
}

/// Another user's attack on a device that has no owner yet, for
/// `milliseconds`: with `name`, it spins on TUNSETIFF of that name; with
/// `prefix*`, it listens for new links over rtnetlink (which needs no
/// privilege) and tries each one whose name starts with the prefix at once.
/// The queues it gets (multiqueue, with virtio-net headers, as probe's
/// throwaway device is) are kept; it prints how many it got.
func grab(_ target: String, milliseconds: Int) -> Int32 {
    var held: [CInt] = []
    func attach(_ name: String) {
        guard let queue = try? TapQueue() else { return }
        if (try? queue.descriptor.setInterface(name, flags: [.tap, .noPI, .multiQueue, .vnetHdr])) != nil {
            held.append(queue.release().rawValue)
        }
    }
    let watch = target.hasSuffix("*") ? linkMonitor() : nil
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    let end = Int(now.tv_sec) * 1000 + Int(now.tv_nsec) / 1_000_000 + milliseconds
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        clock_gettime(CLOCK_MONOTONIC, &now)
        let left = end - (Int(now.tv_sec) * 1000 + Int(now.tv_nsec) / 1_000_000)
        guard left > 0 else { break }
        guard let watch else {
            attach(target)
            continue
        }
        var entry = pollfd(fd: watch, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, CInt(left)) > 0 else { continue }
        let count = buffer.withUnsafeMutableBytes { recv(watch, $0.baseAddress, $0.count, 0) }
        guard count > 0, let messages = try? Netlink.messages(in: Array(buffer[..<count])) else { continue }
        for message in messages where message.type == 16 {
            if let link = try? Link.decode(message.payload), link.name.hasPrefix(String(target.dropLast())) { attach(link.name) }
        }
    }
    print("{\"attached\":\(held.count)}")
    return 0
}

/// A NETLINK_ROUTE socket subscribed to link events (RTMGRP_LINK).
func linkMonitor() -> CInt? {
    let fd = socket(AF_NETLINK, CInt(SOCK_RAW.rawValue), NETLINK_ROUTE)
    var address = sockaddr_nl()
    address.nl_family = sa_family_t(AF_NETLINK)
    address.nl_groups = 1
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_nl>.size)) }
    }
    return fd >= 0 && bound == 0 ? fd : nil
}

/// `make NAME SOCKET`, run inside `unshare -Urn`: makes the multiqueue tap NAME
/// in that namespace, where the user is root, and passes its queue over SOCKET.
func makeAndPass(_ name: String, socket: CInt) -> Int32 {
    let fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)
    guard fd >= 0, (try? TunDescriptor(fd).setInterface(name, flags: [.tap, .noPI, .multiQueue, .vnetHdr])) != nil else {
        print("cannot make \(name) in a namespace of the user's own: \(String(cString: strerror(errno)))")
        return 1
    }
    return (try? passDescriptors([fd], with: Array(name.utf8), over: socket, system: .live)) == nil ? 1 : 0
}

/// `foreign NAME COMMAND...`: a queue of a tap NAME made in a user and network
/// namespace of the caller's own (`unshare -Urn`), placed at descriptor 3 of
/// COMMAND, which runs here: the attack of a user who hands a helper a
/// descriptor of a device whose name means another device here.
func foreign(_ name: String, _ command: [String]) -> Int32 {
    var pair: [CInt] = [-1, -1]
    guard socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue), 0, &pair) == 0 else { return 1 }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_adddup2(&actions, pair[1], 4)
    let words: [String] = ["unshare", "-Urn", CommandLine.arguments[0], "make", name, "4"]
    let argv = words.map { strdup($0) } + [nil]
    var pid = pid_t()
    guard posix_spawnp(&pid, "unshare", &actions, nil, argv, environ) == 0 else { return 1 }
    close(pair[1])
    var status: CInt = 0
    waitpid(pid, &status, 0)
    var payload = [UInt8](repeating: 0, count: 64)
    var control = [UInt8](repeating: 0, count: ctap_cmsg_space(MemoryLayout<CInt>.size))
    var received: CInt = -1
    payload.withUnsafeMutableBytes { payloadBytes in
        control.withUnsafeMutableBytes { controlBytes in
            var vector = iovec(iov_base: payloadBytes.baseAddress, iov_len: payloadBytes.count)
            withUnsafeMutablePointer(to: &vector) { vector in
                var message = msghdr(msg_name: nil, msg_namelen: 0, msg_iov: vector, msg_iovlen: 1,
                                     msg_control: controlBytes.baseAddress, msg_controllen: controlBytes.count, msg_flags: 0)
                if recvmsg(pair[0], &message, 0) > 0, message.msg_controllen > 0, let base = controlBytes.baseAddress {
                    received = UnsafeRawPointer(ctap_cmsg_data(base.assumingMemoryBound(to: cmsghdr.self))!).load(as: CInt.self)
                }
            }
        }
    }
    guard received >= 0, dup2(received, 3) == 3 else {
        print("no descriptor from the namespace")
        return 1
    }
    let commandArgv = command.map { strdup($0) } + [nil]
    execvp(command[0], commandArgv)
    print("cannot run \(command[0]): \(String(cString: strerror(errno)))")
    return 127
}

/// `steal PREFIX STOPFILE`: the attack on a device's first moments, as
/// another user with /dev/net/tun open to all. It spins TUNSETIFF on the
/// names a template would give (PREFIX0 to PREFIX3) and on every new link
/// rtnetlink announces with that prefix; a queue it gets is kept, and once
/// the creator has set the owner, it calls TUNSETOWNER itself, which a
/// queue's holder may. Stops when STOPFILE exists, and prints how many
/// devices it attached to and how many it made its own for a moment (the
/// test judges what was handed over).
func steal(_ prefix: String, until stopFile: String) -> Int32 {
    var held: [(name: String, tun: TunDescriptor)] = []
    var stolen = Set<String>()
    func attach(_ name: String) {
        guard !held.contains(where: { $0.name == name }), let queue = try? TapQueue() else { return }
        // Multiqueue first; a single-queue device refuses that flag (EINVAL) but not a plain attach.
        if (try? queue.descriptor.setInterface(name, flags: [.tap, .noPI, .multiQueue])) != nil
            || (try? queue.descriptor.setInterface(name, flags: [.tap, .noPI])) != nil {
            held.append((name, TunDescriptor(queue.release())))
            attachedInAll += 1
        }
    }
    let watch = linkMonitor()
    if let watch { _ = fcntl(watch, F_SETFL, O_NONBLOCK) }
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    var attachedInAll = 0
    while access(stopFile, F_OK) != 0 {
        // A queue of a device since deleted answers TUNGETIFF with EBADFD: let it go, a new one may take the name.
        held.removeAll { entry in
            guard (try? entry.tun.interface()) == nil else { return false }
            close(entry.tun.rawValue)
            return true
        }
        for number in 0..<4 { attach(prefix + String(number)) }
        if let watch {
            let count = buffer.withUnsafeMutableBytes { recv(watch, $0.baseAddress, $0.count, 0) }
            if count > 0, let messages = try? Netlink.messages(in: Array(buffer[..<count])) {
                for message in messages where message.type == 16 {
                    if let link = try? Link.decode(message.payload), link.name.hasPrefix(prefix) { attach(link.name) }
                }
            }
        }
        // Owner set by the creator: take it.
        for (name, tun) in held where !stolen.contains(name) {
            if let owner = (try? TapControl().tunLink(name))?.owner, owner != getuid(), (try? tun.setOwner(getuid())) != nil,
               (try? TapControl().tunLink(name))?.owner == getuid() {
                stolen.insert(name)
            }
        }
    }
    print("{\"attached\":\(attachedInAll),\"owned_for_a_moment\":\(stolen.count)}")
    return 0
}

switch CommandLine.arguments.dropFirst().first {
case "steal" where CommandLine.arguments.count == 4:
    exit(steal(CommandLine.arguments[2], until: CommandLine.arguments[3]))
case "make" where CommandLine.arguments.count == 4:
    exit(makeAndPass(CommandLine.arguments[2], socket: CInt(CommandLine.arguments[3]) ?? -1))
case "foreign" where CommandLine.arguments.count > 3:
    exit(foreign(CommandLine.arguments[2], Array(CommandLine.arguments.dropFirst(3))))
case "report": report()
case "arp": exit(arp(CInt(CommandLine.arguments.last ?? "") ?? -1))
case "give" where CommandLine.arguments.count == 4:
    // `give NAME UID`: as the device's owner, attach a queue and hand the device on (TUNSETOWNER).
    let fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)
    let tun = TunDescriptor(fd)
    guard let flags = try? TapControl().tunLink(CommandLine.arguments[2]).attachFlags,
          (try? tun.setInterface(CommandLine.arguments[2], flags: flags)) != nil,
          let uid = uid_t(CommandLine.arguments[3]), (try? tun.setOwner(uid)) != nil else {
        print("cannot give \(CommandLine.arguments[2]): \(String(cString: strerror(errno)))")
        exit(1)
    }
    exit(0)
case "grab" where CommandLine.arguments.count == 4:
    exit(grab(CommandLine.arguments[2], milliseconds: Int(CommandLine.arguments[3]) ?? 0))
default:
    print("usage: TapctlTestHelper report [ARG...] | arp FD | grab NAME MILLISECONDS")
    exit(2)
}
