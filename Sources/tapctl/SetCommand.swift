import TapCore
import TapDataPath

let setCommand = CommandSpec(
    name: "set",
    operands: "NAME|--fd N",
    operandCount: 0...1,
    summary: "change a tun/tap device's link settings (MTU, address, bridge, up)",
    details: """
        Every value is checked before anything changes: the MTU against the
        device's limits, the address for form (unicast, not zero), the bridge
        for existence and kind. Settings are then applied in this order:
        mtu, mac, txqueuelen, bridge, up or down; a refusal stops there and the
        error says which settings were applied before it. Needs CAP_NET_ADMIN.
        With --fd N, the device is the one behind inherited descriptor N.
        In privileged-helper mode the device must be idle (tapctl attaches a
        queue to it, so the kernel's owner check decides) or be named by a
        queue you hold, with --fd.
        """,
    options: [fdOption, linkOptions[0], OptionSpec(.down, "bring the device down")] + linkOptions.dropFirst()
        + [OptionSpec(.nobridge, "take the device out of its bridge")] + commonOptions,
    exclusive: [(.up, .down), (.bridge, .nobridge)],
    run: runSet,
    jsonKeys: ["name", "applied"],
    takesHeldQueue: true
)

private func runSet(_ invocation: Invocation) throws(Failure) {
    let command = invocation.command.name
    let (target, _) = try target(invocation)
    let settings = try linkSettings(invocation)
    guard !settings.isEmpty else { throw .usage(command: command, message: "nothing to set") }
    let control = try invocation.control()
    let result = try attempt(command, target.subject) { () throws(TapError) in try control.set(settings, on: target) }
    try invocation.dropPrivileges()
    if invocation.json {
        emit(.object([("name", .string(result.name)), ("applied", .array(result.applied.map { .string($0.description) }))]))
    }
}
