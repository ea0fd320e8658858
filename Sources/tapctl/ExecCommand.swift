import Glibc
import SystemPackage
import TapSystem
import TapCore
import TapDataPath

let execCommand = CommandSpec(
    name: "exec",
    operands: "NAME|TEMPLATE",
    operandCount: 0...1,
    summary: "open a tap's queues, give up every privilege, and run COMMAND with them",
    details: """
        Opens the queues (and vhost-net descriptors) of NAME, applies the
        settings, places the descriptors at consecutive numbers from --fd-start
        (queues first, then vhost-net), drops every capability (effective,
        permitted, inheritable, ambient and bounding, so COMMAND cannot regain
        one even as uid 0), and execs COMMAND in its own place: same pid.
        In COMMAND's arguments {fds} becomes the queue numbers joined by ':'
        (QEMU's fds=), {fdlist} the same joined by ',' (Cloud Hypervisor's
        fd=[...]), {fd} the first, {vhostfds} the vhost-net numbers, and
        {ifname} the device name; TAPCTL_FDS, TAPCTL_VHOSTFDS and TAPCTL_IFNAME
        are set likewise. A device in use is refused: its queues belong to
        whoever holds them. If COMMAND cannot be run, a device --create made is
        removed; the exit status is then 127 (not found) or 126.
        """,
    options: handoffOptions + [
        OptionSpec(.fdStart, value: "N", "the first descriptor number, 3 or more (default 3)"),
    ] + commonOptions,
    exclusive: [],
    run: runExec,
    takesCommand: true,
    jsonKeys: [],
    batch: .refused("exec replaces the process, so it cannot run in a batch"),
    hint: { error in
        guard case .needsNetAdmin = error else { return nil }
        return "run it as root, or have root make the device with 'tapctl create NAME --user YOU' and leave out --create"
    }
)

/// Everything exec's command line asks for, checked before anything is opened.
func execPlan(_ invocation: Invocation) throws(Failure) -> (handoff: HandoffRequest, identity: Identity?, start: CInt) {
    let command = invocation.command.name
    let (handoff, identity) = try handoffRequest(invocation)
    if !invocation.has(.vhostNet), invocation.trailing.contains(where: { $0.contains("{vhostfds}") }) {
        throw .usage(command: command, message: "{vhostfds} needs --vhost-net")
    }
    guard let text = invocation.values[.fdStart] else { return (handoff, identity, 3) }
    guard let value = decimal(text), value >= 3, value <= 65536 else {
        throw .usage(command: command, message: "fd-start '\(text)' is not a number from 3 to 65536")
    }
    return (handoff, identity, CInt(value))
}

private func runExec(_ invocation: Invocation) throws(Failure) {
    let command = invocation.command.name
    let plan = try execPlan(invocation)
    let handoff = try openAndDrop(invocation, plan.handoff, becoming: plan.identity, placingFrom: plan.start)
    let fds = handoff.tapFDs.map(String.init).joined(separator: ":")
    let vhostFDs = handoff.vhostFDs.map(String.init).joined(separator: ":")
    let values = ["{fds}": fds, "{fdlist}": handoff.tapFDs.map(String.init).joined(separator: ","), "{fd}": String(handoff.tapFDs[0]),
                  "{vhostfds}": vhostFDs, "{ifname}": handoff.name]
    let arguments = invocation.trailing.map { substitute($0, values) }
    setenv("TAPCTL_FDS", fds, 1)
    setenv("TAPCTL_VHOSTFDS", vhostFDs, 1)
    setenv("TAPCTL_IFNAME", handoff.name, 1)
    let cArguments = arguments.map { strdup($0) } + [nil]
    execvp(arguments[0], cArguments)
    // Still here: COMMAND could not be run.
    let error = Errno.current
    handoff.rollBack()
    throw .operation(command: command, subject: handoff.name, message: "cannot run '\(arguments[0])': \(error)",
                     status: error == .noSuchFileOrDirectory ? .notRunnable : .notExecutable)
}

/// Replaces every {key} of `values` in `word`, left to right, never rescanning a value.
func substitute(_ word: String, _ values: [String: String]) -> String {
    var out = ""
    var rest = word[...]
    while let open = rest.firstIndex(of: "{") {
        out += rest[..<open]
        if let close = rest[open...].firstIndex(of: "}"), let value = values[String(rest[open...close])] {
            out += value
            rest = rest[rest.index(after: close)...]
        } else {
            out.append("{")
            rest = rest[rest.index(after: open)...]
        }
    }
    return out + rest
}
