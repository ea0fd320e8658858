import TapCore
import TapDataPath

/// A device as `list` and `show` print it, for people and as JSON.
struct DeviceReport {
    let device: TapControl.Device
    let ownerName: String?
    let groupName: String?

    init(_ device: TapControl.Device) {
        self.device = device
        ownerName = device.link.owner.flatMap(Accounts.userName)
        groupName = device.link.group.flatMap(Accounts.groupName)
    }

    private var link: TunLink { device.link }

    var flags: [String] {
        [("multi_queue", link.multiQueue), ("vnet_hdr", link.vnetHeader), ("pi", link.packetInfo),
         ("persist", link.persistent)].filter(\.1).map(\.0)
    }

    var access: String {
        switch (link.owner, link.group) {
        case (nil, nil): return "ANY USER"
        case (_, nil): return "owner"
        case (nil, _): return "group"
        default: return "owner+group"
        }
    }

    var queues: String {
        "\(link.queues)" + (link.disabledQueues > 0 ? "+\(link.disabledQueues)" : "")
    }

    static func id(_ id: UInt32?, _ name: String?) -> String {
        guard let id else { return "-" }
        return name.map { "\($0)(\(id))" } ?? String(id)
    }

    /// One entry a process, with its queue count when it holds more than one.
    var processes: String {
        device.holders.isEmpty ? "-" : device.holders.byProcess.map {
            "\($0.pid)/\($0.command)" + ($0.fds.count > 1 ? "(\($0.fds.count))" : "")
        }.joined(separator: ",")
    }

    static let columns = ["NAME", "MODE", "FLAGS", "OWNER", "GROUP", "ACCESS", "QUEUES", "MTU", "STATE", "BRIDGE", "PROCESSES"]

    private var state: TapControl.LinkState? { device.state }

    var row: [String] {
        [link.name, link.mode.rawValue, flags.isEmpty ? "-" : flags.joined(separator: ","),
         Self.id(link.owner, ownerName), Self.id(link.group, groupName), access, queues,
         state?.mtu.map(String.init) ?? "-", state.map { $0.up ? "up" : "down" } ?? "-", state?.bridge ?? "-", processes]
    }

    var text: String { labelled(lines) }

    var lines: [(String, String)] {
        [
            ("name", link.name), ("mode", link.mode.rawValue),
            ("flags", flags.isEmpty ? "-" : flags.joined(separator: ",")),
            ("owner", Self.id(link.owner, ownerName)), ("group", Self.id(link.group, groupName)),
            ("access", link.anyUserCanAttach ? "any local user can attach" : access + " only, or CAP_NET_ADMIN"),
            ("queues", "\(link.queues) attached, \(link.disabledQueues) detached"),
            ("state", state.map { $0.up ? "up" : "down" } ?? "-"),
            ("mtu", state?.mtu.map(String.init) ?? "-"),
            ("mac", state?.mac?.description ?? "-"),
            ("bridge", state?.bridge ?? "-"),
            ("txqueuelen", state?.txQueueLength.map(String.init) ?? "-"),
            ("processes", device.holders.isEmpty ? "-" : device.holders.byProcess.map(\.described).joined(separator: ", ")),
        ]
    }

    /// Keys follow the rules of tapctl(8), JSON OUTPUT, which names each.
    var json: JSON {
        .object([
            ("name", .string(link.name)),
            ("index", .int(Int64(link.index))),
            ("mode", .string(link.mode.rawValue)),
            ("multi_queue", .bool(link.multiQueue)),
            ("vnet_hdr", .bool(link.vnetHeader)),
            ("pi", .bool(link.packetInfo)),
            ("persist", .bool(link.persistent)),
            ("owner", .optional(link.owner)),
            ("owner_name", .optional(ownerName)),
            ("group", .optional(link.group)),
            ("group_name", .optional(groupName)),
            ("any_user_can_attach", .bool(link.anyUserCanAttach)),
            ("queues", .int(Int64(link.queues))),
            ("detached_queues", .int(Int64(link.disabledQueues))),
            ("up", state.map { .bool($0.up) } ?? .null),
            ("mtu", .optional(state?.mtu)),
            ("mac", .optional(state?.mac?.description)),
            ("bridge", .optional(state?.bridge)),
            ("txqueuelen", .optional(state?.txQueueLength)),
            ("processes", .array(device.holders.byProcess.map {
                .object([("pid", .int(Int64($0.pid))), ("command", .string($0.command)),
                         ("fds", .array($0.fds.map { .int(Int64($0)) }))])
            })),
        ])
    }
}
