import TapCore
import TapDataPath

let probeCommand = CommandSpec(
    name: "probe",
    operands: "[NAME|--fd N]",
    operandCount: 0...1,
    summary: "show what the kernel, or one tap, supports",
    details: """
        Without a device: TUNGETFEATURES, then, on a throwaway multiqueue tap
        that is always removed, the offloads, virtio-net header sizes and byte
        orders the kernel accepts, and how many queues a device may have. That
        part needs CAP_NET_ADMIN; without it tapctl says what it did not test.
        Without /dev/net/tun, it says what it could not learn and shows the
        kernel release and the device node's mode.
        With NAME or --fd N: that device's flags, owner, queues, offloads (the
        features ethtool -k shows), virtio-net header size and send buffer, all
        read without disturbing its users; QEMU's three probes (vnet_hdr, UFO,
        header length); and the virtio-net features it can back. A temporary
        queue is attached only to a device nobody uses: for a device in use,
        what needs a queue (vnet_hdr, header size, send buffer) is shown as
        unknown, with why, and the rest is read without one. While a VM runs,
        the offloads are its guest's: QEMU resets a tap's offloads when it
        starts and sets what the guest negotiated.
        """,
    options: [fdOption] + commonOptions,
    exclusive: [],
    run: runProbe,
    jsonKeys: deviceJSONKeys + kernelProbeJSONKeys + ["in_use", "queue_vnet_hdr", "offloads", "ethtool", "ufo", "vnet_hdr_size", "sndbuf", "virtio_net", "kernel", "unknown"],
    takesHeldQueue: true
)

private func runProbe(_ invocation: Invocation) throws(Failure) {
    let command = invocation.command.name
    let drop = invocation.drop
    let control = try invocation.control()
    guard !invocation.operands.isEmpty || invocation.values[.fd] != nil else {
        let kernel = try attempt(command, nil) { () throws(TapError) in try control.probeKernel(opened: drop) }
        try invocation.dropPrivileges()
        emit(invocation.json ? KernelReport(kernel).json.text : KernelReport(kernel).text)
        return
    }
    let (target, _) = try target(invocation)
    let probe = try attempt(command, target.subject) { () throws(TapError) in
        try control.probe(target, opened: drop)
    }
    try invocation.dropPrivileges()
    let report = DeviceProbeReport(probe: probe)
    emit(invocation.json ? report.json.text : report.text)
}

/// `probe NAME`: the device as `show` prints it, then what it can do.
struct DeviceProbeReport {
    let probe: DeviceProbe

    private var ethtool: [(String, Bool)] {
        Offloads.featureNames.map { ($0.1, probe.features.active.contains($0.1)) }
    }

    private var ufo: Bool? { probe.kernel.acceptedOffloads?.contains(.ufo) }

    /// Each value that could not be read (nil), or only in part, and why.
    var unknown: [(String, String)] {
        var out: [(String, String)] = []
        if let why = probe.withoutQueue {
            out += ["queue_vnet_hdr", "vnet_hdr_size", "sndbuf"].map { ($0, why) }
        } else if !probe.inherited {
            out.append(("sndbuf", "a queue's, not the device's: probe a queue with --fd N"))
        }
        if let why = probe.kernel.untested.map(untestedText) {
            out += [("ufo", why), ("virtio_net", "partial: the offloads this kernel accepts were not tested: " + why)]
        }
        return out
    }

    /// While a program holds the device, the offloads are the ones it set.
    private var offloadsNote: String? {
        guard probe.inUse else { return nil }
        return "set by the program holding it (QEMU resets a tap's offloads when it starts and sets what its guest negotiated)"
    }

    var json: JSON {
        guard case .object(let device) = DeviceReport(probe.device).json else { return .null }
        let offloads: [JSON] = probe.features.offloads.names.map { .string($0) }
        let features: [(String, JSON)] = ethtool.map { ($0.0, .bool($0.1)) }
        let virtio: [JSON] = probe.virtioFeatures.map { .string($0) }
        let extra: [(String, JSON)] = [
            ("in_use", .bool(probe.inUse)),
            ("queue_vnet_hdr", probe.queueFlags.map { .bool($0.contains(.vnetHdr)) } ?? .null),
            ("offloads", .array(offloads)),
            ("ethtool", .object(features)),
            ("ufo", ufo.map { .bool($0) } ?? .null),
            ("vnet_hdr_size", .optional(probe.vnetHeaderSize)),
            ("sndbuf", .optional(probe.sendBuffer)),
            ("virtio_net", .array(virtio)),
            ("kernel", KernelReport(probe.kernel).json),
            ("unknown", .object(unknown.map { ($0.0, .string($0.1)) })),
        ]
        return .object(device + extra)
    }

    var text: String {
        let why = Dictionary(unknown, uniquingKeysWith: { first, _ in first })
        let features = ethtool.map { "\($0.0) \($0.1 ? "on" : "off")" }.joined(separator: ", ")
        var sizes = probe.vnetHeaderSize.map(String.init) ?? "unknown: " + (why["vnet_hdr_size"] ?? "")
        if let tried = probe.kernel.vnetHeaderSizes {
            let taken = KernelProbe.vnetHeaderSizesTried.filter { tried[$0] == true }.map(String.init)
            sizes += " (the kernel takes " + taken.joined(separator: ", ") + ")"
        }
        let ufoText: String
        switch ufo {
        case true?: ufoText = "accepted (ignored by the kernel since 4.14)"
        case false?: ufoText = "refused"
        case nil: ufoText = "not tested: " + (probe.kernel.untested.map(untestedText) ?? "")
        }
        let vnetHeader = probe.queueFlags.map { $0.contains(.vnetHdr) ? "on for this queue" : "off for this queue" }
        let virtio = probe.virtioFeatures
        let lines: [(String, String)] = [
            ("offloads", probe.features.offloads.description + " (ethtool: " + features + ")"
                + (offloadsNote.map { "; " + $0 } ?? "")),
            ("vnet_hdr", vnetHeader ?? "unknown: " + (why["queue_vnet_hdr"] ?? "")),
            ("ufo", ufoText),
            ("vnet hdr size", sizes),
            ("sndbuf", probe.sendBuffer.map(sendBufferText) ?? "unknown: " + (why["sndbuf"] ?? "")),
            ("virtio-net", (virtio.isEmpty ? "no offloads" : virtio.joined(separator: " "))
                + (why["virtio_net"].map { " (\($0))" } ?? "")),
        ]
        return labelled(DeviceReport(probe.device).lines + lines)
    }
}

/// `key:` and value lines with the values aligned, as `show` prints them.
func labelled(_ lines: [(String, String)]) -> String {
    let width = max(11, (lines.map(\.0.count).max() ?? 0) + 2)
    return lines.map { $0.0 + ":" + String(repeating: " ", count: width - $0.0.count) + $0.1 }
        .joined(separator: "\n")
}

/// The kernel part of `probe`, for people and as JSON.
struct KernelReport {
    let probe: KernelProbe

    init(_ probe: KernelProbe) {
        self.probe = probe
    }

    private var tunMode: String? { probe.tunMode.map { "0" + String($0, radix: 8) } }

    private func groups(accepted: Bool) -> [String]? {
        probe.offloads.map { offloads in
            Offloads.probeGroups.filter { offloads[$0] == accepted }.flatMap(\.names)
        }
    }

    var json: JSON {
        let names = { (list: [String]?) in list.map { JSON.array($0.map { .string($0) }) } ?? .null }
        let sizes = probe.vnetHeaderSizes.map { tried in
            JSON.array(KernelProbe.vnetHeaderSizesTried.filter { tried[$0] == true }.map { .int(Int64($0)) })
        }
        return .object([
            ("release", .string(probe.release)),
            ("tun_mode", .optional(tunMode)),
            ("features", names(probe.features?.names)),
            ("offloads_accepted", names(groups(accepted: true))),
            ("offloads_refused", names(groups(accepted: false))),
            ("vnet_hdr_sizes", sizes ?? .null),
            ("vnet_le", probe.vnetLittleEndian.map { .bool($0) } ?? .null),
            ("vnet_be", probe.vnetBigEndian.map { .bool($0) } ?? .null),
            ("max_queues", .optional(probe.maxQueues)),
            ("untested", .optional(probe.untested.map(untestedText))),
        ])
    }

    var text: String {
        var lines = [("kernel", probe.release + (tunMode.map { ", /dev/net/tun mode \($0)" } ?? ", no /dev/net/tun"))]
        lines.append(("features", probe.features.map { $0.names.joined(separator: " ") } ?? "unknown"))
        guard let offloads = probe.offloads, let sizes = probe.vnetHeaderSizes else {
            let untested = probe.features == nil ? "features, offloads, header sizes, queues" : "offloads, header sizes, queues"
            return labelled(lines + [("not tested", (probe.untested.map(untestedText) ?? "") + ": " + untested)])
        }
        let groups = { (wanted: Bool) in
            Offloads.probeGroups.filter { offloads[$0] == wanted }.map { $0.names.joined(separator: "+") }
        }
        let yes = { (value: Bool?) in value == true ? "yes" : "no" }
        lines += [
            ("offloads accepted", groups(true).joined(separator: " ")),
            ("offloads refused", groups(false).isEmpty ? "-" : groups(false).joined(separator: " ")),
            ("vnet hdr sizes", KernelProbe.vnetHeaderSizesTried.filter { sizes[$0] == true }.map(String.init).joined(separator: " ")),
            ("vnet byte order", "little-endian \(yes(probe.vnetLittleEndian)), big-endian \(yes(probe.vnetBigEndian))"),
            ("queues per device", probe.maxQueues.map(String.init) ?? "-"),
        ]
        return labelled(lines)
    }
}

/// Why a probe left fields untested, in words.
private func untestedText(_ reason: TapError) -> String {
    if case .needsNetAdmin = reason { return "creating a throwaway device needs CAP_NET_ADMIN" }
    return reason.message
}
