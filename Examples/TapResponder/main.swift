// A userspace host on a tap, written with the libraries' public API only, as a VMM
// would write its network backend: it opens one queue of DEVICE with a
// virtio-net header, negotiates checksum offload, and answers ARP requests for
// ADDRESS and ICMP echo requests to it, leaving the kernel to finish the
// ICMP checksums (VIRTIO_NET_HDR_F_NEEDS_CSUM). It stops after REPLIES echo
// replies, or after SECONDS.
//
//     TapResponder DEVICE ADDRESS [REPLIES [SECONDS]]
import Glibc
import TapCore
import TapDataPath

let arguments = CommandLine.arguments
guard arguments.count >= 3, let address = ipv4(arguments[2]) else {
    print("usage: TapResponder DEVICE ADDRESS [REPLIES [SECONDS]]")
    exit(2)
}
let wanted = arguments.count > 3 ? Int(arguments[3]) ?? 3 : 3
let seconds = arguments.count > 4 ? Int(arguments[4]) ?? 30 : 30
let mac: [UInt8] = [0x02, 0x00, 0x00, 0x77, address[2], address[3]]

func ipv4(_ text: String) -> [UInt8]? {
    let parts = text.split(separator: ".").compactMap { UInt8($0) }
    return parts.count == 4 ? parts : nil
}

/// The Internet checksum of `bytes` (RFC 1071), folded and complemented.
func checksum<C: Collection>(_ bytes: C, seed: UInt32 = 0) -> UInt16 where C.Element == UInt8 {
    var sum = seed
    var iterator = bytes.makeIterator()
    while let high = iterator.next() {
        sum += UInt32(high) << 8 | UInt32(iterator.next() ?? 0)
    }
    while sum > 0xffff { sum = (sum & 0xffff) + (sum >> 16) }
    return ~UInt16(sum)
}

func put(_ value: UInt16, _ frame: inout [UInt8], at offset: Int) {
    frame[offset] = UInt8(value >> 8)
    frame[offset + 1] = UInt8(value & 0xff)
}

/// The reply to an ARP request for `address`, or nil.
func arpReply(_ frame: [UInt8]) -> [UInt8]? {
    guard frame.count >= 42, frame[12] == 0x08, frame[13] == 0x06, frame[20] == 0, frame[21] == 1,
          Array(frame[38..<42]) == address else { return nil }
    let asker = Array(frame[22..<28]), askerIP = Array(frame[28..<32])
    return asker + mac + [0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2] + mac + address + asker + askerIP
}

/// The echo reply to an ICMP echo request to `address`, or nil, with its
/// checksum left to the kernel: the header says where it goes.
func echoReply(_ frame: [UInt8]) -> ([UInt8], VirtioNetHeader)? {
    guard frame.count >= 42, frame[12] == 0x08, frame[13] == 0x00, frame[14] >> 4 == 4 else { return nil }
    let ihl = Int(frame[14] & 0x0f) * 4
    let icmp = 14 + ihl
    guard frame[23] == 1, Array(frame[30..<34]) == address, frame.count > icmp + 8, frame[icmp] == 8 else { return nil }
    let length = min(frame.count, 14 + Int(frame[16]) << 8 + Int(frame[17]))
    var reply = Array(frame[6..<12]) + mac + Array(frame[12..<length])
    reply.replaceSubrange(26..<30, with: frame[30..<34])
    reply.replaceSubrange(30..<34, with: frame[26..<30])
    put(0, &reply, at: 24)
    put(checksum(reply[14..<icmp]), &reply, at: 24)
    reply[icmp] = 0
    // ICMP has no pseudo-header: the partial sum the kernel starts from is 0.
    put(0, &reply, at: icmp + 2)
    var header = VirtioNetHeader()
    header.flags = [.needsChecksum]
    header.checksumStart = UInt16(icmp)
    header.checksumOffset = 2
    return (reply, header)
}

do throws(TapError) {
    let control = TapControl()
    var handoff = try control.open(HandoffRequest(name: try InterfaceName(arguments[1], allowTemplate: false)))
    guard let queue = try handoff.takeQueue() else { exit(1) }
    try queue.setVnetHeaderSize(12)
    let offloads = try queue.setOffloads([.csum])
    try queue.setNonBlocking(true)
    print("responding as \(address.map(String.init).joined(separator: ".")) on \(try queue.interface().name), "
          + "header \(queue.headerSize) bytes, offloads \(offloads)")
    var buffer = [UInt8](repeating: 0, count: 65536)
    var arps = 0, echoes = 0
    var start = timespec()
    clock_gettime(CLOCK_MONOTONIC, &start)
    while echoes < wanted {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        guard now.tv_sec - start.tv_sec < seconds else { break }
        var entry = pollfd(fd: queue.fileDescriptor.rawValue, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, 200) > 0 else { continue }
        guard let (_, length) = try queue.receive(into: &buffer) else { continue }
        let frame = Array(buffer[..<length])
        if let reply = arpReply(frame) {
            _ = try queue.send(reply)
            arps += 1
        } else if let (reply, header) = echoReply(frame) {
            _ = try queue.send(reply, header: header)
            echoes += 1
        }
    }
    print("answered \(arps) ARP requests and \(echoes) echo requests")
    exit(echoes >= wanted ? 0 : 1)
} catch {
    print("TapResponder: \(error)")
    exit(1)
}
