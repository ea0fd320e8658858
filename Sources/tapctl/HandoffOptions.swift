import TapCore
import TapDataPath

/// The options `exec` and `send` share: which queues to open, how to configure
/// them, and whom to become before handing them over.
let handoffOptions = [
    OptionSpec(.queues, value: "N", "open N queues, 1 to 256 (default 1; more need a multiqueue device)"),
    OptionSpec(.vhostNet, "also open one /dev/vhost-net descriptor per queue"),
    OptionSpec(.offload, value: "LIST", "set these offloads, as tapctl offload does"),
    OptionSpec(.vnetHdrSize, value: "SIZE", "set the virtio-net header size: 10, 12, 20 or 24"),
    OptionSpec(.sndbuf, value: "BYTES", "set the queues' send buffer, or unlimited"),
    OptionSpec(.noVnetHdr, "open the queues without IFF_VNET_HDR"),
    OptionSpec(.create, "make the device (like create, never an existing one); it lives while its queues are open"),
    OptionSpec(.persist, parent: .create, "with --create: keep the device after its queues close"),
    OptionSpec(.tun, parent: .create, "with --create: a tun device"),
    OptionSpec(.multiqueue, parent: .create, "with --create: multiqueue even with one queue"),
    OptionSpec(.pi, parent: .create, "with --create: keep the packet information header"),
] + linkOptions.map { OptionSpec($0.name, value: $0.value, parent: .create, "with --create: " + $0.help) } + [
    OptionSpec(.user, value: "USER", "become USER (its uid, group and supplementary groups) before handing over; with --create, the owner"),
    OptionSpec(.group, value: "GROUP", "become GROUP; with --create, the device's group"),
    OptionSpec(.noNewPrivs, "set PR_SET_NO_NEW_PRIVS, so setuid programs gain nothing"),
]

let createOnlyOptions: [Option] = [.persist, .tun, .multiqueue, .pi] + linkOptions.map(\.name)

/// The handoff an `exec` or `send` command line asks for, and the identity to take.
func handoffRequest(_ invocation: Invocation) throws(Failure) -> (HandoffRequest, Identity?) {
    let command = invocation.command.name
    let create = invocation.has(.create)
    if !create, let option = createOnlyOptions.first(where: { invocation.has($0) || invocation.values[$0] != nil }) {
        throw .usage(command: command, message: "option '--\(option.rawValue)' needs --create")
    }
    guard let operand = invocation.operands.first else { throw .usage(command: command, message: "missing NAME") }
    try invocation.refuseIdentityInHelperMode()
    var request = HandoffRequest(name: try interfaceName(operand, command: command, allowTemplate: create))
    if let text = invocation.values[.queues] { request.queues = try queueCount(text, command: command) }
    request.vhostNet = invocation.has(.vhostNet)
    request.vnetHeader = !invocation.has(.noVnetHdr)
    request.offloads = try invocation.values[.offload].map { (text) throws(Failure) in try offloadList(text, command: command) }
    request.vnetHeaderSize = try invocation.values[.vnetHdrSize].map { (text) throws(Failure) in
        try vnetHeaderSize(text, command: command)
    }
    request.sendBuffer = try invocation.values[.sndbuf].map { (text) throws(Failure) in try sendBuffer(text, command: command) }
    let identity = try attempt(command, nil) { () throws(TapError) in
        try Accounts.identity(user: invocation.values[.user], group: invocation.values[.group])
    }
    if create {
        var device = CreateRequest(name: request.name)
        device.mode = invocation.has(.tun) ? .tun : .tap
        device.multiQueue = invocation.has(.multiqueue)
        device.packetInfo = invocation.has(.pi)
        device.link = try linkSettings(invocation)
        if invocation.values[.user] != nil, let identity { device.owner = .user(identity.uid) }
        if invocation.values[.group] != nil { device.group = identity?.gid }
        request.create = device
        request.persist = invocation.has(.persist)
    }
    return (request, identity)
}

/// Opens and configures the queues, then gives up every capability (becoming
/// `identity`). On failure after opening, a device this call made is removed.
func openAndDrop(_ invocation: Invocation, _ request: HandoffRequest, becoming identity: Identity?,
                 placingFrom start: CInt? = nil) throws(Failure) -> Handoff {
    let command = invocation.command.name
    let control = try invocation.control()
    var handoff = try attempt(command, request.name.value) { () throws(TapError) in try control.open(request) }
    do {
        if let start { try handoff.place(from: start) }
        if !invocation.inBatch {
            try Capabilities.dropAll(forExec: true, becoming: identity,
                                     noNewPrivileges: invocation.has(.noNewPrivs) || PrivilegedHelper.isActive())
        }
    } catch {
        handoff.rollBack()
        throw Failure(error, command: command, subject: handoff.name)
    }
    return handoff
}
