import TapCore
import TapDataPath

let dumpCommand = CommandSpec(
    name: "dump",
    operands: "[NAME...|--match GLOB]",
    operandCount: 0...Int.max,
    summary: "print the tun/tap devices as the create lines apply accepts",
    details: """
        One create line a device (every device without NAME or --match), with
        every flag, the owner (--no-owner when it has none) and group, and the
        link settings: --mtu, --mac (a tap's), --txqueuelen, --up when it is
        up, and --bridge when it is a bridge's port. Applying a fresh dump
        changes nothing; saved as /etc/tapctl/taps.conf, it brings the devices
        back at boot (tapctl-apply.service).
        """,
    options: [
        OptionSpec(.match, value: "GLOB", "the tun/tap devices whose names match GLOB, e.g. 'vm*'"),
    ] + commonOptions,
    exclusive: [],
    run: runDump,
    jsonKeys: deviceJSONKeys
)

private func runDump(_ invocation: Invocation) throws(Failure) {
    let command = invocation.command.name
    let selection: DeviceSelection
    if let pattern = invocation.values[.match] {
        if let operand = invocation.operands.first {
            throw .usage(command: command, message: "unexpected argument '\(operand)' with --match")
        }
        selection = .matching(pattern)
    } else if invocation.operands.isEmpty {
        selection = .all
    } else {
        var names: [InterfaceName] = []
        for operand in invocation.operands { names.append(try interfaceName(operand, command: command)) }
        selection = .names(names)
    }
    let control = try invocation.control()
    if invocation.json {
        // The same device objects as list and show: one shape for a device.
        let devices = try attempt(command, nil) { () throws(TapError) in try control.devices(selection) }
        try invocation.dropPrivileges()
        emit(.array(devices.map { DeviceReport($0).json }))
        return
    }
    let (declared, runtime) = try attempt(command, nil) { () throws(TapError) in
        (try control.dump(selection), try control.devices(selection).filter { !$0.link.persistent }.map(\.link.name))
    }
    try invocation.dropPrivileges()
    // A device that lives with its holder (exec --create, bridge-helper) is no declared state.
    let lines = declared.map(createLine) + runtime.map { "# \(BatchWords.quote($0)) lives with its holder (not persistent): not declared state" }
    if !lines.isEmpty { emit(lines.joined(separator: "\n")) }
}

/// A declaration as the create line that makes it.
func createLine(_ request: CreateRequest) -> String {
    var words = ["create", request.name.value]
    if request.mode == .tun { words.append("--tun") }
    if request.multiQueue { words.append("--multiqueue") }
    if request.vnetHeader { words.append("--vnet-hdr") }
    if request.packetInfo { words.append("--pi") }
    switch request.owner {
    case .user(let uid): words += ["--user", Accounts.userName(uid) ?? String(uid)]
    case .none: words.append("--no-owner")
    case .caller: break
    }
    if let gid = request.group { words += ["--group", Accounts.groupName(gid) ?? String(gid)] }
    let link = request.link
    if link.up == true { words.append("--up") }
    if let mtu = link.mtu { words += ["--mtu", String(mtu)] }
    if let mac = link.mac { words += ["--mac", mac.description] }
    if case .attach(let bridge)? = link.bridge { words += ["--bridge", bridge] }
    if let length = link.txQueueLength { words += ["--txqueuelen", String(length)] }
    return words.map(BatchWords.quote).joined(separator: " ")
}
