import TapCore

let setCommand = CommandSpec(
    name: "set",
    operands: "NAME",
    operandCount: 1...1,
    summary: "change a tun/tap device's link settings (MTU, address, bridge, up)",
    details: """
        Every value is checked before anything changes: the MTU against the
        device's limits, the address for form (unicast, not zero), the bridge
        for existence and kind. Settings are then applied in this order:
        mtu, mac, txqueuelen, bridge, up or down; a refusal stops there and the
        error says which settings were applied before it. Needs CAP_NET_ADMIN.
        """,
    options: [linkOptions[0], OptionSpec("down", "bring the device down")] + linkOptions.dropFirst()
        + [OptionSpec("nobridge", "take the device out of its bridge")] + commonOptions,
    exclusive: [("up", "down"), ("bridge", "nobridge")],
    run: runSet
)

private func runSet(_ invocation: Invocation) throws(Failure) {
    let command = invocation.command.name
    let name = try interfaceName(invocation.operands[0], command: command)
    let settings = try linkSettings(invocation)
    guard !settings.isEmpty else { throw .usage(command: command, message: "nothing to set") }
    let control = TapControl()
    let applied = try attempt(command, name.value) { () throws(TapError) in
        let link = try control.link(name)
        try control.validate(settings, device: link.name, mode: link.mode)
        return try control.apply(settings, to: link.name)
    }
    try invocation.dropPrivileges()
    if invocation.json {
        emit(.object([("name", .string(name.value)), ("applied", .array(applied.map { .string($0) }))]))
    }
}
