import TapCore

let deleteCommand = CommandSpec(
    name: "delete",
    operands: "NAME...",
    operandCount: 1...Int.max,
    summary: "remove persistent tun/tap devices",
    details: """
        The mode and multiqueue flag are read from the kernel. Every NAME is
        checked before any is removed: a missing device, one that is not
        tun/tap, or one a process holds open (named with its pid) stops the
        whole command with nothing removed. The device's owner may delete it
        without CAP_NET_ADMIN.
        """,
    options: [
        OptionSpec("missing-ok", "skip names that do not exist"),
    ] + commonOptions,
    exclusive: [],
    run: runDelete
)

private func runDelete(_ invocation: Invocation) throws(Failure) {
    let command = invocation.command.name
    var names: [InterfaceName] = []
    for operand in invocation.operands {
        names.append(try interfaceName(operand, command: command))
    }
    let subject = names.count == 1 ? names[0].value : nil
    let deleted = try attempt(command, subject) { () throws(TapError) in
        try TapControl().delete(names, missingOK: invocation.has("missing-ok"))
    }
    try dropPrivileges(command)
    if invocation.json {
        emit(.object([("deleted", .array(deleted.map { .string($0) }))]))
    }
}
