import TapCore
import TapDataPath

let sendCommand = CommandSpec(
    name: "send",
    operands: "NAME|TEMPLATE",
    operandCount: 1...1,
    summary: "open a tap's queues and pass them over a Unix socket",
    details: """
        Opens and configures the queues as exec does, gives up every privilege,
        connects to the Unix stream (or seqpacket) socket PATH, and sends one
        message: a line of JSON, {"version":1,"ifname":NAME,"tap_fds":N,
        "vhost_fds":M}, with the N queue descriptors and then the M vhost-net
        ones in a single SCM_RIGHTS control message. The receiver then answers
        or closes the connection; a receiver that closes without reading is an
        error, and so is silence for --timeout seconds. A device --create made
        is removed when the handoff fails. Prints the device name.
        """,
    options: [
        OptionSpec(.socket, value: "PATH", required: true, "the receiver's Unix socket"),
        OptionSpec(.timeout, value: "SECONDS", "how long to wait for the receiver, 1 to 3600 (default 10)"),
    ] + handoffOptions + commonOptions,
    exclusive: [],
    run: runSend,
    jsonKeys: ["name", "tap_fds", "vhost_fds"],
    batch: .refusedWith([.user, .group, .noNewPrivs]),
    hint: { error in
        guard case .needsNetAdmin = error else { return nil }
        return "run it as root, or have root make the device with 'tapctl create NAME --user YOU' and leave out --create"
    }
)

/// Everything send's command line asks for, checked before anything is opened.
func sendPlan(_ invocation: Invocation) throws(Failure) -> (handoff: HandoffRequest, identity: Identity?, path: String, seconds: Int) {
    let command = invocation.command.name
    let (handoff, identity) = try handoffRequest(invocation)
    guard let path = invocation.values[.socket] else { throw .usage(command: command, message: "missing --socket PATH") }
    guard let text = invocation.values[.timeout] else { return (handoff, identity, path, 10) }
    guard let seconds = decimal(text), (1...3600).contains(seconds) else {
        throw .usage(command: command, message: "timeout '\(text)' is not a number of seconds from 1 to 3600")
    }
    return (handoff, identity, path, seconds)
}

private func runSend(_ invocation: Invocation) throws(Failure) {
    let command = invocation.command.name
    let plan = try sendPlan(invocation)
    let (path, seconds) = (plan.path, plan.seconds)
    let handoff = try openAndDrop(invocation, plan.handoff, becoming: plan.identity)
    do {
        try handoff.send(to: path, timeout: CInt(seconds * 1000))
    } catch {
        handoff.rollBack()
        throw Failure(error, command: command, subject: handoff.name)
    }
    if invocation.json {
        emit(.object([("name", .string(handoff.name)), ("tap_fds", .int(Int64(handoff.tapFDs.count))),
                      ("vhost_fds", .int(Int64(handoff.vhostFDs.count)))]))
    } else {
        emit(handoff.name)
    }
}
