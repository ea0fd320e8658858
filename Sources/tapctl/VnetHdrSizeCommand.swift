import TapCore
import TapDataPath

let vnetHdrSizeCommand = CommandSpec(
    name: "vnet-hdr-size",
    operands: "NAME|--fd N SIZE",
    operandCount: 0...2,
    summary: "set the virtio-net header size (TUNSETVNETHDRSZ) and print it",
    details: """
        SIZE is 10 (virtio_net_hdr), 12 (with num_buffers: mergeable receive
        buffers and virtio 1.0), 20 (with hash report) or 24 (with UDP tunnel
        fields); the kernel refuses less than 10. The size is device-wide and
        stays until changed: every queue of the device uses it.
        """,
    options: [fdOption] + commonOptions,
    exclusive: [],
    run: runVnetHdrSize,
    jsonKeys: ["vnet_hdr_size"],
    accessList: .unlessDescriptor,
    takesHeldQueue: true
)

private func runVnetHdrSize(_ invocation: Invocation) throws(Failure) {
    let command = invocation.command.name
    let (target, text) = try target(invocation, value: "SIZE")
    let size = try vnetHeaderSize(text ?? "", command: command)
    let result = try invocation.onTarget(target) { (control, tun, _) throws(TapError) in
        try control.setVnetHeaderSize(size, on: tun)
    }
    emit(invocation.json ? JSON.object([("vnet_hdr_size", .int(Int64(result)))]).text : String(result))
}
