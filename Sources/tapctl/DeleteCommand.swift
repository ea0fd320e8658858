import TapCore
import TapDataPath

let deleteCommand = CommandSpec(
    name: "delete",
    operands: "NAME...|--all|--match GLOB",
    operandCount: 0...Int.max,
    summary: "remove persistent tun/tap devices",
    details: """
        The mode and multiqueue flag are read from the kernel. Every device is
        checked before any is removed: a missing device, one that is not
        tun/tap, or one a process holds open (named with its pid) stops the
        whole command with nothing removed. With CAP_NET_ADMIN all go in one
        batched unregister (1000 devices in well under a second); without it,
        one by one, which the device's owner may do.
        """,
    options: [
        OptionSpec(.all, "every tun/tap device in the namespace"),
        OptionSpec(.match, value: "GLOB", "every tun/tap device whose name matches GLOB, e.g. 'vm*'"),
        OptionSpec(.missingOk, "skip names that do not exist (or a GLOB that matches none)"),
    ] + commonOptions,
    exclusive: [(.all, .match)],
    run: runDelete,
    jsonKeys: ["deleted"],
    subject: .singleDevice,
    hint: { error in
        switch error {
        case .notFound: "--missing-ok ignores missing devices"
        case .inUse: "stop that process first"
        default: nil
        }
    }
)

private func runDelete(_ invocation: Invocation) throws(Failure) {
    let command = invocation.command.name
    let selection: DeviceSelection
    if invocation.has(.all) || invocation.values[.match] != nil {
        if let operand = invocation.operands.first {
            throw .usage(command: command, message: "unexpected argument '\(operand)' with --all or --match")
        }
        selection = invocation.values[.match].map(DeviceSelection.matching) ?? .all
    } else {
        guard !invocation.operands.isEmpty else { throw .usage(command: command, message: "missing NAME, --all or --match") }
        var names: [InterfaceName] = []
        for operand in invocation.operands {
            names.append(try interfaceName(operand, command: command))
        }
        selection = .names(names)
    }
    let subject = invocation.operands.count == 1 ? invocation.operands[0] : nil
    let control = try invocation.control()
    let deleted = try attempt(command, subject) { () throws(TapError) in
        try control.delete(selection, missingOK: invocation.has(.missingOk))
    }
    try invocation.dropPrivileges()
    if invocation.json {
        emit(.object([("deleted", .array(deleted.map { .string($0) }))]))
    }
}
