import SystemPackage
import TapCore
import TapDataPath

let ifnameCommand = CommandSpec(
    name: "ifname",
    operands: "",
    operandCount: 0...0,
    summary: "print the device behind an inherited tun/tap descriptor",
    details: """
        For launcher scripts handed a descriptor: asks the kernel (TUNGETIFF)
        which device fd N is attached to. The descriptor is left open and as it was.
        """,
    options: [
        OptionSpec(.fd, value: "N", required: true, "the descriptor number"),
    ] + commonOptions,
    exclusive: [],
    run: runIfname,
    jsonKeys: ["fd", "name", "mode", "multi_queue", "vnet_hdr", "pi", "detached"],
    accessList: .never
)

private func runIfname(_ invocation: Invocation) throws(Failure) {
    let fd = try descriptorNumber(invocation)
    let control = try invocation.control()
    try invocation.dropPrivileges()
    let interface = try attempt(invocation.command.name, nil) { () throws(TapError) in
        try control.interface(ofDescriptor: FileDescriptor(rawValue: fd))
    }
    if invocation.json {
        emit(.object([
            ("fd", .int(Int64(fd))),
            ("name", .string(interface.name)),
            ("mode", .optional(interface.flags.mode?.rawValue)),
            ("multi_queue", .bool(interface.flags.contains(.multiQueue))),
            ("vnet_hdr", .bool(interface.flags.contains(.vnetHdr))),
            ("pi", .bool(!interface.flags.contains(.noPI))),
            ("detached", .bool(interface.flags.contains(.detachQueue))),
        ]))
    } else {
        emit(interface.name)
    }
}
