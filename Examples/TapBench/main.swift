// Frames per second through a TapQueue, for `make bench` to set beside a C
// loop making the same system calls (scripts/framebench.c). TapCore's public
// API only.
//
//     TapBench DEVICE write|echo SIZE COUNT TAP-MAC
//
// write: COUNT frames of SIZE bytes into the tap, each with its virtio-net
// header (one writev each). echo: COUNT ICMP echo requests of SIZE bytes to the
// tap's 10.79.0.1 from 10.79.0.2 (02:00:00:79:00:02, which the bench gives a
// permanent neighbour entry), each followed by reading the kernel's reply.
import Glibc
import TapCore
import TapDataPath

let arguments = CommandLine.arguments
guard arguments.count == 6, let size = Int(arguments[3]), size >= 64, size <= 1514, let count = Int(arguments[4]),
      ["write", "echo"].contains(arguments[2]) else {
    print("usage: TapBench DEVICE write|echo SIZE COUNT TAP-MAC")
    exit(2)
}
let tapMAC = arguments[5].split(separator: ":").compactMap { UInt8($0, radix: 16) }
let ours: [UInt8] = [0x02, 0, 0, 0x79, 0, 2]

/// An ICMP echo request of `size` bytes on the wire, from us to the tap.
func echoRequest(_ size: Int) -> [UInt8] {
    func sum(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        var total: UInt32 = 0
        var index = bytes.startIndex
        while index < bytes.endIndex {
            total += UInt32(bytes[index]) << 8 | UInt32(index + 1 < bytes.endIndex ? bytes[index + 1] : 0)
            index += 2
        }
        while total > 0xffff { total = (total & 0xffff) + (total >> 16) }
        return ~UInt16(total)
    }
    let ipLength = size - 14
    var frame = tapMAC + ours + [0x08, 0x00]
    frame += [0x45, 0, UInt8(ipLength >> 8), UInt8(ipLength & 0xff), 0, 1, 0x40, 0, 64, 1, 0, 0, 10, 79, 0, 2, 10, 79, 0, 1]
    let ip = sum(frame[14..<34])
    frame[24] = UInt8(ip >> 8)
    frame[25] = UInt8(ip & 0xff)
    frame += [8, 0, 0, 0, 0x12, 0x34, 0, 1] + [UInt8](repeating: 0x5a, count: ipLength - 28)
    let icmp = sum(frame[34...])
    frame[36] = UInt8(icmp >> 8)
    frame[37] = UInt8(icmp & 0xff)
    return frame
}

func seconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

do throws(TapError) {
    var handoff = try TapControl().open(HandoffRequest(name: try InterfaceName(arguments[1], allowTemplate: false)))
    guard let queue = try handoff.takeQueue() else { exit(1) }
    let frame = echoRequest(size)
    var buffer = [UInt8](repeating: 0, count: 2048)
    // Replies left by an earlier run would answer this one's requests: drain them.
    try queue.setNonBlocking(true)
    while try queue.read(into: &buffer) != nil {}
    var lost = 0
    let start = seconds()
    for _ in 0..<count {
        _ = try queue.send(frame)
        guard arguments[2] == "echo" else { continue }
        // A reply the kernel dropped must not stop the run: wait a second at most.
        var entry = pollfd(fd: queue.fileDescriptor.rawValue, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, 1000) > 0, let _ = try queue.receive(into: &buffer) else {
            lost += 1
            continue
        }
    }
    print(Int(Double(count - lost) / (seconds() - start)))
} catch {
    print("TapBench: \(error)")
    exit(1)
}
