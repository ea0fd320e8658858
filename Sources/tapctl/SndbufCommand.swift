import TapCore
import TapDataPath

let sndbufCommand = CommandSpec(
    name: "sndbuf",
    operands: "--fd N BYTES|unlimited",
    operandCount: 0...2,
    summary: "set the send buffer of a tap's open queues (TUNSETSNDBUF) and print it",
    details: """
        BYTES is from 1 to 2147483647; unlimited (the kernel's default) is
        2147483647. The send buffer bounds what a queue may have in flight
        towards the kernel; QEMU sets it with sndbuf=. It applies to every
        queue of the device attached at the time, but a queue attached later
        starts unlimited, so it is set through a queue a program holds (--fd),
        never by device name.
        """,
    options: [OptionSpec(.fd, value: "N", required: true, "a queue's descriptor")] + commonOptions,
    exclusive: [],
    run: runSndbuf,
    jsonKeys: ["sndbuf"],
    accessList: .never
)

private func runSndbuf(_ invocation: Invocation) throws(Failure) {
    let command = invocation.command.name
    let (target, text) = try target(invocation, value: "BYTES")
    if case .name(let name) = target {
        throw .usage(command: command, message: "a send buffer lasts only for the queues open when it is set, "
                     + "so it is set on a queue a program holds (--fd N), not on \(name)")
    }
    let bytes = try sendBuffer(text ?? "", command: command)
    let result = try invocation.onTarget(target) { (control, tun, _) throws(TapError) in
        try control.setSendBuffer(bytes, on: tun)
    }
    emit(invocation.json ? JSON.object([("sndbuf", .int(Int64(result)))]).text : sendBufferText(result))
}
