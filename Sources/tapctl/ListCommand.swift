import TapCore
import TapDataPath

let listCommand = CommandSpec(
    name: "list",
    operands: "",
    operandCount: 0...0,
    summary: "list every tun/tap device in this network namespace",
    details: """
        ACCESS is "owner", "group", "owner+group", or "ANY USER" for a device
        with neither, which every user who can open /dev/net/tun may attach.
        QUEUES counts attached queues, and detached ones after a '+'. MTU,
        STATE (up or down) and BRIDGE are the link state create, set and apply
        configure.
        Processes are found in /proc: without root, only the caller's own.
        """,
    options: commonOptions,
    exclusive: [],
    run: runList,
    jsonKeys: deviceJSONKeys,
    accessList: .never
)

let showCommand = CommandSpec(
    name: "show",
    operands: "NAME",
    operandCount: 1...1,
    summary: "describe one tun/tap device",
    details: "A missing device, or one that is not tun/tap, is an error (exit 4).",
    options: commonOptions,
    exclusive: [],
    run: runShow,
    jsonKeys: deviceJSONKeys,
    accessList: .never
)

private func runList(_ invocation: Invocation) throws(Failure) {
    let control = try invocation.control()
    let devices = try attempt(invocation.command.name, nil) { () throws(TapError) in try control.list() }
    try invocation.dropPrivileges()
    let described = devices.map(DeviceReport.init)
    if invocation.json {
        emit(.array(described.map(\.json)))
    } else {
        emit(table([DeviceReport.columns] + described.map(\.row)))
    }
}

private func runShow(_ invocation: Invocation) throws(Failure) {
    let command = invocation.command.name
    let name = try interfaceName(invocation.operands[0], command: command)
    let control = try invocation.control()
    let device = try attempt(command, name.value) { () throws(TapError) in try control.show(name) }
    try invocation.dropPrivileges()
    let report = DeviceReport(device)
    emit(invocation.json ? report.json.text : report.text)
}
