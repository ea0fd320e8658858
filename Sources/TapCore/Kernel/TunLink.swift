import CTapShim
import SystemPackage
import TapSystem
import TapDataPath

/// A tun/tap device as rtnetlink describes it (IFLA_TUN_* inside IFLA_LINKINFO).
public struct TunLink: Equatable, Sendable {
    /// IFLA_IFNAME: the device's name.
    public var name: String
    /// ifi_index: the interface index.
    public var index: Int32
    /// IFLA_TUN_TYPE: tun or tap.
    public var mode: TunMode
    /// IFLA_TUN_PI: frames carry the 4-byte packet information header (no IFF_NO_PI).
    public var packetInfo: Bool
    /// IFLA_TUN_VNET_HDR: frames carry a virtio-net header (IFF_VNET_HDR).
    public var vnetHeader: Bool
    /// IFLA_TUN_PERSIST: the device outlives its last queue (TUNSETPERSIST).
    public var persistent: Bool
    /// IFLA_TUN_MULTI_QUEUE: made with IFF_MULTI_QUEUE.
    public var multiQueue: Bool
    /// nil when unset: then the owner check does not apply.
    public var owner: UInt32?
    /// IFLA_TUN_GROUP; nil when unset: then the group check does not apply.
    public var group: UInt32?
    /// Attached and detached queues; rtnetlink gives them for multiqueue devices only.
    public var queues: UInt32
    /// IFLA_TUN_NUM_DISABLED_QUEUES: queues detached with TUNSETQUEUE, not in `queues`; they still
    /// count toward the 256.
    public var disabledQueues: UInt32
    /// IFLA_CARRIER: the TUN driver turns the carrier on when a queue attaches
    /// and off when the last one goes, so for a single-queue device it says
    /// whether one is attached (unless its holder turned the carrier off with
    /// TUNSETCARRIER, or attached with IFF_NO_CARRIER).
    public var carrier = false

    /// Whether a process may hold a queue of it: devices that cannot spare
    /// `list` its /proc scan, the slow part of a listing on a busy host.
    var mayBeHeld: Bool { multiQueue ? queues + disabledQueues > 0 : carrier || !persistent }

    /// The queues a process holds, as far as the kernel says: nil for a
    /// single-queue device that is not persistent with its carrier off (its
    /// holder turned the carrier off).
    var heldQueues: Int? {
        if multiQueue { return Int(queues + disabledQueues) }
        return carrier ? 1 : persistent ? 0 : nil
    }

    /// No owner and no group: any user who can open /dev/net/tun may attach.
    public var anyUserCanAttach: Bool { owner == nil && group == nil }

    /// The flags TUNSETIFF must carry to attach to this device without changing it.
    var attachFlags: TunFlags {
        var flags = mode.flag
        if !packetInfo { flags.insert(.noPI) }
        if vnetHeader { flags.insert(.vnetHdr) }
        if multiQueue { flags.insert(.multiQueue) }
        return flags
    }
}

/// One entry of an RTM_GETLINK reply: any device, and its tun details when it is one.
public struct Link: Equatable, Sendable {
    /// IFLA_IFNAME: the device's name.
    public var name: String
    /// IFLA_INFO_KIND: "tun", "bridge", "veth"...; nil for a device without one (lo, a NIC).
    public var kind: String?
    /// The IFLA_TUN_* details when `kind` is "tun", else nil.
    public var tun: TunLink?
    /// ifi_index: the interface index, which changes are sent to.
    public var index: Int32 = 0
    /// ifi_flags: IFF_UP and the rest.
    public var flags: UInt32 = 0
    /// IFLA_MTU, in bytes.
    public var mtu: UInt32?
    /// IFLA_MIN_MTU: the lowest MTU the driver accepts.
    public var minMTU: UInt32?
    /// IFLA_MAX_MTU: the highest MTU the driver accepts.
    public var maxMTU: UInt32?
    /// IFLA_ADDRESS: the hardware address (6 bytes for a tap); nil when there is none (a tun).
    public var address: [UInt8]?
    /// The bridge or bond this device is enslaved to, by index.
    public var master: Int32?
    /// IFLA_TXQLEN: the transmit queue length, in packets.
    public var txQueueLength: UInt32?
    /// IFLA_GROUP: the device group, 0 unless set (`delete` uses one to remove devices in a batch).
    public var group: UInt32?
    /// IFLA_IFALIAS, which only CAP_NET_ADMIN can change: where helper mode
    /// records the user it made a device for (`Gate.maker`).
    public var alias: String?

    init(name: String, kind: String?, tun: TunLink?) {
        self.name = name
        self.kind = kind
        self.tun = tun
    }

    /// Decodes an RTM_NEWLINK payload: struct ifinfomsg, then attributes.
    static func decode(_ payload: [UInt8]) throws(Netlink.ParseError) -> Link {
        let fixed = MemoryLayout<ifinfomsg>.size
        guard payload.count >= fixed else { throw .truncated(at: 0) }
        let index = Int32(bitPattern: payload.loadNative(UInt32.self, at: 4))
        var link = Link(name: "", kind: nil, tun: nil)
        link.index = index
        link.flags = payload.loadNative(UInt32.self, at: 8)
        var name = ""
        var kind: String?
        var carrier = false
        var data: [Netlink.Attribute] = []
        for attribute in try Netlink.attributes(in: payload[fixed...]) {
            switch Int(attribute.type) {
            case Int(IFLA_IFNAME): name = attribute.string ?? ""
            case Int(IFLA_MTU): link.mtu = attribute.uint32
            case Int(IFLA_MIN_MTU): link.minMTU = attribute.uint32
            case Int(IFLA_MAX_MTU): link.maxMTU = attribute.uint32
            case Int(IFLA_ADDRESS): link.address = attribute.payload
            case Int(IFLA_MASTER): link.master = attribute.uint32.map { Int32(bitPattern: $0) }
            case Int(IFLA_TXQLEN): link.txQueueLength = attribute.uint32
            case Int(IFLA_GROUP): link.group = attribute.uint32
            case Int(IFLA_IFALIAS): link.alias = attribute.string
            case Int(IFLA_CARRIER): carrier = attribute.uint8 == 1
            case Int(IFLA_LINKINFO):
                for info in try Netlink.attributes(in: attribute.payload[...]) {
                    if info.type == UInt16(IFLA_INFO_KIND) { kind = info.string }
                    if info.type == UInt16(IFLA_INFO_DATA) { data = try Netlink.attributes(in: info.payload[...]) }
                }
            default: continue
            }
        }
        link.name = name
        link.kind = kind
        guard kind == "tun" else { return link }
        var tun = TunLink(name: name, index: index, mode: .tap, packetInfo: false, vnetHeader: false,
                          persistent: false, multiQueue: false, owner: nil, group: nil, queues: 0, disabledQueues: 0,
                          carrier: carrier)
        for attribute in data {
            switch Int(attribute.type) {
            case Int(IFLA_TUN_TYPE): tun.mode = attribute.uint8 == UInt8(IFF_TUN) ? .tun : .tap
            case Int(IFLA_TUN_PI): tun.packetInfo = attribute.uint8 == 1
            case Int(IFLA_TUN_VNET_HDR): tun.vnetHeader = attribute.uint8 == 1
            case Int(IFLA_TUN_PERSIST): tun.persistent = attribute.uint8 == 1
            case Int(IFLA_TUN_MULTI_QUEUE): tun.multiQueue = attribute.uint8 == 1
            case Int(IFLA_TUN_OWNER): tun.owner = attribute.uint32
            case Int(IFLA_TUN_GROUP): tun.group = attribute.uint32
            case Int(IFLA_TUN_NUM_QUEUES): tun.queues = attribute.uint32 ?? 0
            case Int(IFLA_TUN_NUM_DISABLED_QUEUES): tun.disabledQueues = attribute.uint32 ?? 0
            default: continue
            }
        }
        link.tun = tun
        return link
    }
}
