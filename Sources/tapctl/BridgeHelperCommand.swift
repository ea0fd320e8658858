import TapCore
import TapDataPath

let bridgeHelperCommand = CommandSpec(
    name: "bridge-helper",
    operands: "",
    operandCount: 0...0,
    summary: "act as QEMU's bridge helper (-netdev bridge, helper=)",
    details: """
        Speaks the protocol of qemu-bridge-helper: QEMU runs it with --fd, a
        Unix socket, and --br. tapctl makes a tap from tap%d (with a virtio-net
        header under --use-vnet), gives it the bridge's MTU and the address
        fe:ff:ff:ff:ff:ff, adds it to the bridge, brings it up, and sends its
        descriptor over the socket. The tap lives as long as QEMU holds it.
        Installed setuid root or with cap_net_admin, it obeys /etc/tapctl/acl.
        Use it as: -netdev bridge,id=n0,br=br0,helper="/usr/local/sbin/tapctl bridge-helper"
        """,
    options: [
        OptionSpec(.useVnet, "open the tap with IFF_VNET_HDR"),
        OptionSpec(.fd, value: "N", required: true, "the Unix socket to send the tap over"),
        OptionSpec(.br, value: "BRIDGE", "the bridge (default br0, as QEMU's)"),
    ] + commonOptions,
    exclusive: [],
    run: runBridgeHelper,
    jsonKeys: ["name", "bridge"],
    subject: .option(.br, fallback: "br0"),
    hint: { error in
        guard case .needsNetAdmin = error else { return nil }
        return "run it as root, or install tapctl setuid root or with cap_net_admin and allow the bridge in "
            + "\(accessListPath) (tapctl(8), SECURITY)"
    }
)

/// The bridge an invocation of bridge-helper names.
func helperBridge(_ invocation: Invocation) throws(Failure) -> String {
    try interfaceName(invocation.values[.br] ?? "br0", command: invocation.command.name, bridge: true).value
}

private func runBridgeHelper(_ invocation: Invocation) throws(Failure) {
    let command = invocation.command.name
    let socket = try descriptorNumber(invocation)
    let bridge = try helperBridge(invocation)
    let control = try invocation.control()
    let name = try attempt(command, bridge) { () throws(TapError) in
        try control.bridgeHelper(bridge: bridge, vnetHeader: invocation.has(.useVnet), socket: socket)
    }
    try invocation.dropPrivileges()
    if invocation.json { emit(.object([("name", .string(name)), ("bridge", .string(bridge))])) }
}
