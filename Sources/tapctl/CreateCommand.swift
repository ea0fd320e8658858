import Glibc
import TapCore
import TapDataPath

let createCommand = CommandSpec(
    name: "create",
    operands: "NAME|TEMPLATE",
    operandCount: 1...1,
    summary: "create a persistent tap (or tun) device and print its name",
    details: """
        NAME may be a template with one %d, such as vm%d: the kernel picks the
        number, and the name it made is printed. An existing NAME is an error
        (exit 5): tapctl never attaches to a device it did not create.
        Without --user the owner is the caller's effective uid, so no other
        unprivileged user can attach; --no-owner leaves the device open to
        every user who can open /dev/net/tun (what ip tuntap does).
        --vnet-hdr and --pi are recorded on the device, but each program that
        attaches a queue sets its own.
        --up, --mtu, --mac, --bridge and --txqueuelen are checked before the
        device is made and applied before it is made persistent: if one fails,
        the device is removed. An existing device under --exist-ok gets the
        link settings given, each change said on standard error. --bridge
        without --mtu takes the bridge's MTU.
        """,
    options: [
        OptionSpec(.tun, "make a tun device (IP packets) instead of a tap (Ethernet frames)"),
        OptionSpec(.multiqueue, "allow several queues (IFF_MULTI_QUEUE)"),
        OptionSpec(.vnetHdr, "packets carry a virtio-net header (IFF_VNET_HDR)"),
        OptionSpec(.pi, "keep the 4-byte packet information header (no IFF_NO_PI)"),
        OptionSpec(.user, value: "USER", "owner, a name or uid (default: the caller's effective uid)"),
        OptionSpec(.noOwner, "set no owner"),
        OptionSpec(.group, value: "GROUP", "group whose members may attach, a name or gid"),
        OptionSpec(.existOk, "accept an existing device of the same mode and multiqueue flag (and --user and --group when given)"),
    ] + linkOptions + commonOptions,
    exclusive: [(.user, .noOwner)],
    run: runCreate,
    jsonKeys: ["name", "created", "changed"],
    hint: { error in
        switch error {
        case .alreadyExists: "--exist-ok accepts an existing device of the same kind"
        case .needsNetAdmin:
            "run it as root, or have root create the device with --user YOU: its owner can then attach without CAP_NET_ADMIN"
        default: nil
        }
    }
)

private func runCreate(_ invocation: Invocation) throws(Failure) {
    let command = invocation.command.name
    let request = try createRequest(invocation)
    let control = try invocation.control()
    let result = try attempt(command, request.name.value) { () throws(TapError) in try control.create(request) }
    try invocation.dropPrivileges()
    if invocation.json {
        emit(.object([("name", .string(result.name)), ("created", .bool(result.created)),
                      ("changed", .array(result.changed.map { .string($0.description) }))]))
    } else {
        // Standard output stays the name alone, for $(...); what --exist-ok changed goes to standard error.
        if !result.changed.isEmpty {
            write("tapctl: create \(result.name): exists; changed " + result.changed.map(\.description).joined(separator: ", ") + "\n", to: STDERR_FILENO)
        }
        emit(result.name)
    }
}

/// The device a `create` command line describes: what `create` makes, and
/// what a line of `apply`'s file declares.
func createRequest(_ invocation: Invocation) throws(Failure) -> CreateRequest {
    let command = invocation.command.name
    var request = CreateRequest(name: try interfaceName(invocation.operands[0], command: command, allowTemplate: true))
    request.mode = invocation.has(.tun) ? .tun : .tap
    request.multiQueue = invocation.has(.multiqueue)
    request.vnetHeader = invocation.has(.vnetHdr)
    request.packetInfo = invocation.has(.pi)
    request.existOK = invocation.has(.existOk)
    request.link = try linkSettings(invocation)
    if let user = invocation.values[.user] {
        request.owner = .user(try attempt(command, nil) { () throws(TapError) in try Accounts.userID(user) })
    } else if invocation.has(.noOwner) {
        request.owner = .none
    }
    if let group = invocation.values[.group] {
        request.group = try attempt(command, nil) { () throws(TapError) in try Accounts.groupID(group) }
    }
    return request
}
