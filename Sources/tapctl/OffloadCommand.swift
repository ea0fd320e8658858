import TapCore
import TapDataPath

let offloadCommand = CommandSpec(
    name: "offload",
    operands: "NAME|--fd N LIST",
    operandCount: 0...2,
    summary: "set the offloads a tap accepts (TUNSETOFFLOAD) and print the set in force",
    details: """
        LIST is comma-separated from csum, tso4, tso6, ecn, ufo, uso4, uso6,
        udp-tunnel, udp-tunnel-csum, or is none. The kernel replaces the whole
        set, so tapctl checks the combination first: every offload needs csum,
        ecn needs tso4 or tso6, uso4 and uso6 go together, udp-tunnel needs tso4,
        tso6 or uso4,uso6, and udp-tunnel-csum needs udp-tunnel. A set this
        kernel still refuses is reported naming the offloads, and the previous
        set stays. Offloads are device-wide and stay until changed.
        """,
    options: [fdOption] + commonOptions,
    exclusive: [],
    run: runOffload,
    jsonKeys: ["offloads"],
    accessList: .unlessDescriptor,
    takesHeldQueue: true
)

private func runOffload(_ invocation: Invocation) throws(Failure) {
    let command = invocation.command.name
    let (target, list) = try target(invocation, value: "LIST")
    let offloads = try offloadList(list ?? "", command: command)
    let result = try invocation.onTarget(target) { (control, tun, device) throws(TapError) in
        try control.setOffloads(offloads, on: tun, device: device)
    }
    if invocation.json {
        emit(.object([("offloads", .array(result.names.map { .string($0) }))]))
    } else {
        emit(result.description)
    }
}
