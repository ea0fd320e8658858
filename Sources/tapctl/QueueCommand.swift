import SystemPackage
import TapCore
import TapDataPath

let queueCommand = CommandSpec(
    name: "queue",
    operands: "attach|detach",
    operandCount: 1...1,
    summary: "enable or disable one queue of a multiqueue tap (TUNSETQUEUE)",
    details: """
        Acts on the inherited descriptor --fd N, which must be a queue of a
        multiqueue device. A detached queue stays open and keeps its place
        (it still counts towards the 256 queues) but carries no packets until
        it is attached again; VMMs do this when a guest uses fewer queues.
        """,
    options: [OptionSpec(.fd, value: "N", required: true, "the queue's descriptor")] + commonOptions,
    exclusive: [],
    run: runQueue,
    jsonKeys: ["fd", "name", "detached"],
    accessList: .never
)

private func runQueue(_ invocation: Invocation) throws(Failure) {
    let command = invocation.command.name
    let action = invocation.operands[0]
    guard action == "attach" || action == "detach" else {
        throw .usage(command: command, message: "'\(action)' is not attach or detach")
    }
    let fd = try descriptorNumber(invocation)
    // Attaching checks the owner again, so the capability goes after the call.
    let control = try invocation.control()
    let name = try attempt(command, nil) { () throws(TapError) in
        try control.setQueue(attached: action == "attach", fd: FileDescriptor(rawValue: fd))
    }
    try invocation.dropPrivileges()
    if invocation.json {
        emit(.object([("fd", .int(Int64(fd))), ("name", .string(name)), ("detached", .bool(action == "detach"))]))
    }
}
