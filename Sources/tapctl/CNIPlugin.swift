import Glibc
import SystemPackage
import TapSystem
import TapDataPath
import TapCore

/// The CNI operations on one attachment (container ID, interface), with the
/// network configuration they were given.
struct CNIPlugin {
    let environment: CNIEnvironment
    let config: CNIConfig
    /// The configuration as it came, for the IPAM plugin.
    let input: [UInt8]
    let control = TapControl()

    /// The alias ADD records on what it makes, which only CAP_NET_ADMIN can
    /// change: DEL, CHECK and GC touch a device only when it carries it.
    func tag(containerID: String, ifname: String) -> String { "tapctl cni \(containerID) \(ifname)" }

    /// The device this plugin makes: CNI_IFNAME, or in redirect mode `tapName`.
    var device: String { config.request.name.value }

    // MARK: ADD

    func add() throws(CNIError) -> JSON {
        try environment.require(["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"])
        let containerID = environment.containerID ?? "", ifname = environment.ifname ?? "", netns = environment.netns ?? ""
        let directory = try recordDirectory()
        /// What the one visit to the sandbox found, or made.
        enum Outcome {
            case nothingToRedirect, exists, made(TapControl.Device)
        }
        let outcome = try inSandbox(netns, "creating \(device)") { () throws(TapError) -> Outcome in
            // In redirect mode the sandbox's interface is the previous plugin's; it must be there.
            if config.redirect, try !control.exists(ifname) { return .nothingToRedirect }
            if try control.exists(device) { return .exists }
            _ = try control.create(config.request)
            do throws(TapError) {
                try control.tag(device, as: tag(containerID: containerID, ifname: ifname))
                if config.vnetHeaderSize != nil || config.offloads != nil {
                    // Device-wide settings go through a queue, opened and closed at once.
                    var handoff = HandoffRequest(name: config.request.name)
                    handoff.vnetHeaderSize = config.vnetHeaderSize
                    handoff.offloads = config.offloads
                    _ = try control.open(handoff)
                }
                if config.redirect { try control.redirect(between: ifname, and: device) }
                return .made(try control.show(config.request.name))
            } catch {
                _ = try? control.delete(.names([config.request.name]), missingOK: true)
                throw error
            }
        }
        let made: TapControl.Device
        switch outcome {
        case .nothingToRedirect:
            throw CNIError(code: CNIError.invalidConfig, msg: "nothing to redirect",
                           details: "redirect mode chains after a plugin that made \(ifname) in \(netns), and there is none")
        case .exists:
            throw CNIError(code: CNIError.interfaceExists, msg: "the interface exists",
                           details: "\(netns) already has a device called \(device)")
        case .made(let found):
            made = found
        }
        try writeRecord(in: directory, containerID: containerID, ifname: ifname, netns: netns)
        var ipam: JSON?
        do {
            if config.ipam != nil {
                ipam = try delegate("ADD")
                try configureAddresses(ipam, netns: netns)
            }
        } catch {
            // Nothing half-done: the device, the record and the IPAM lease go.
            try? removeDevice(netns: netns, containerID: containerID, ifname: ifname)
            if config.ipam != nil { _ = try? delegate("DEL") }
            removeRecord(in: directory, containerID: containerID, ifname: ifname)
            throw error
        }
        return result(made, netns: netns, ipam: ipam)
    }

    /// The ADD result in the config's version: the previous result (unknown
    /// fields kept) with this tap appended, and IPAM's addresses for it.
    func result(_ made: TapControl.Device, netns: String, ipam: JSON?) -> JSON {
        var base = config.prevResult ?? .object([])
        base = base.setting("cniVersion", .string(config.cniVersion))
        var interfaces = base["interfaces"]?.elements ?? []
        var interface: [(String, JSON)] = [("name", .string(made.link.name))]
        if let mac = made.state?.mac { interface.append(("mac", .string(mac.description))) }
        if config.cniVersion == "1.1.0", let mtu = made.state?.mtu { interface.append(("mtu", .int(Int64(mtu)))) }
        interface.append(("sandbox", .string(netns)))
        let index = interfaces.count
        interfaces.append(.object(interface))
        base = base.setting("interfaces", .array(interfaces))
        if let ipam {
            let ips = (ipam["ips"]?.elements ?? []).map { $0.setting("interface", .int(Int64(index))) }
            base = base.setting("ips", .array((base["ips"]?.elements ?? []) + ips))
            if let routes = ipam["routes"]?.elements {
                base = base.setting("routes", .array((base["routes"]?.elements ?? []) + routes))
            }
            if let dns = ipam["dns"], base["dns"] == nil { base = base.setting("dns", dns) }
        }
        return base
    }

    /// IPAM's addresses and routes, on the tap in the sandbox, as the
    /// reference `tap` plugin configures them.
    private func configureAddresses(_ ipam: JSON?, netns: String) throws(CNIError) {
        guard let ipam else { return }
        try inSandbox(netns, "configuring \(device)'s addresses") { () throws(TapError) in
            for ip in ipam["ips"]?.elements ?? [] {
                guard let text = ip["address"]?.stringValue, let address = IPPrefix(text) else { continue }
                try control.addAddress(address, to: device)
            }
            // A route without "gw" goes by the gateway of its family's address, as SPEC.md allows.
            let gateways = (ipam["ips"]?.elements ?? []).compactMap { $0["gateway"]?.stringValue.flatMap { IPPrefix($0, bare: true) } }
            for route in ipam["routes"]?.elements ?? [] {
                guard let text = route["dst"]?.stringValue, let destination = IPPrefix(text) else { continue }
                let gateway = route["gw"]?.stringValue.flatMap { IPPrefix($0, bare: true) }
                    ?? gateways.first { $0.bytes.count == destination.bytes.count }
                try control.addRoute(to: destination, gateway: gateway, via: device)
            }
        }
    }

    // MARK: DEL

    /// Succeeds when the device, the namespace or both are gone, and twice.
    func delete() throws(CNIError) {
        try environment.require(["CNI_CONTAINERID", "CNI_IFNAME"])
        let containerID = environment.containerID ?? "", ifname = environment.ifname ?? ""
        if let netns = environment.netns { try removeDevice(netns: netns, containerID: containerID, ifname: ifname) }
        if config.ipam != nil { _ = try delegate("DEL") }
        removeRecord(in: try recordDirectory(), containerID: containerID, ifname: ifname)
    }

    /// Deletes the device in `netns` if this plugin made it for this
    /// attachment (its tag says so); a missing namespace or device is no error.
    private func removeDevice(netns: String, containerID: String, ifname: String) throws(CNIError) {
        let tag = tag(containerID: containerID, ifname: ifname)
        do {
            try NetworkNamespace.within(netns) { () throws(TapError) in
                if config.redirect, try control.exists(ifname) { try control.removeRedirect(from: ifname) }
                guard try isTagged(tag) else { return }
                _ = try control.delete(.names([config.request.name]), missingOK: true)
            }
        } catch .noNamespace {
            return
        } catch {
            throw CNIError(error, doing: "deleting \(device)")
        }
    }

    // MARK: CHECK

    /// The live device against the config, through `apply --check`'s planning.
    func check() throws(CNIError) {
        try environment.require(["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"])
        let containerID = environment.containerID ?? "", ifname = environment.ifname ?? "", netns = environment.netns ?? ""
        guard let previous = config.prevResult else {
            throw CNIError(code: CNIError.invalidConfig, msg: "invalid network configuration", details: "CHECK needs prevResult")
        }
        let listed = (previous["interfaces"]?.elements ?? []).contains {
            $0["name"]?.stringValue == device && $0["sandbox"]?.stringValue == netns
        }
        guard listed else {
            throw CNIError(code: CNIError.checkFailed, msg: "\(device) is not in prevResult",
                           details: "prevResult lists no interface \(device) in sandbox \(netns)")
        }
        let tag = tag(containerID: containerID, ifname: ifname)
        let planned = try inSandbox(netns, "checking \(device)") { () throws(TapError) -> AppliedDevice? in
            guard try isTagged(tag) else { return nil }
            var options = ApplyOptions()
            options.check = true
            return try control.apply([config.request], options: options).first
        }
        guard let planned else {
            throw CNIError(code: CNIError.notOurs, msg: "\(device) is missing",
                           details: "\(netns) has no device \(device) that tapctl made for \(containerID)")
        }
        if let error = planned.error { throw CNIError(error, doing: "checking \(device)") }
        guard planned.action == .unchanged else {
            throw CNIError(code: CNIError.checkFailed, msg: "\(device) differs from the configuration",
                           details: planned.fields.map(\.description).joined(separator: ", "))
        }
        if config.ipam != nil { _ = try delegate("CHECK") }
    }

    // MARK: GC

    /// Removes what ADD made for attachments `cni.dev/valid-attachments` no
    /// longer lists (found by the records ADD keeps on the host, and deleted
    /// only when the device carries this plugin's tag), then passes GC on to IPAM.
    func collectGarbage() throws(CNIError) {
        let valid = Set((config.raw["cni.dev/valid-attachments"] ?? config.raw["cni.dev/attachments"])?.elements?.compactMap {
            attachment -> String? in
            guard let id = attachment["containerID"]?.stringValue, let ifname = attachment["ifname"]?.stringValue else { return nil }
            return id + "\u{0}" + ifname
        } ?? [])
        let directory = try recordDirectory()
        var failures: [String] = []
        for record in readRecords(in: directory) where !valid.contains(record.containerID + "\u{0}" + record.ifname) {
            do {
                try removeDevice(netns: record.netns, containerID: record.containerID, ifname: record.ifname)
                removeRecord(in: directory, containerID: record.containerID, ifname: record.ifname)
            } catch {
                failures.append("\(record.containerID)/\(record.ifname): \(error.details)")
            }
        }
        if config.ipam != nil {
            do {
                _ = try delegate("GC")
            } catch {
                failures.append("IPAM: \(error.msg) \(error.details)")
            }
        }
        guard failures.isEmpty else {
            throw CNIError(code: CNIError.kernel, msg: "some stale attachments remain", details: failures.joined(separator: "; "))
        }
    }

    // MARK: STATUS

    func status() throws(CNIError) {
        var status = stat()
        guard SystemCalls.live.stat("/dev/net/tun", &status, true) == 0 else {
            throw CNIError(code: 50, msg: "the plugin is not available", details: "/dev/net/tun does not exist: load the tun module")
        }
        if config.ipam != nil { _ = try delegate("STATUS") }
    }

    // MARK: The sandbox, records, delegation

    /// Whether the sandbox (entered) has `device`, carrying `tag`: one lookup.
    private func isTagged(_ tag: String) throws(TapError) -> Bool {
        do {
            return try control.alias(of: device) == tag
        } catch .notFound {
            return false
        }
    }

    /// `body` inside the sandbox at `netns`, its failure in CNI terms.
    private func inSandbox<T>(_ netns: String, _ what: String, _ body: () throws(TapError) -> T) throws(CNIError) -> T {
        do {
            return try NetworkNamespace.within(netns, body)
        } catch .noNamespace(_, let path) {
            throw CNIError(code: CNIError.invalidEnvironment, msg: "invalid environment variables",
                           details: "CNI_NETNS: no network namespace at \(path)")
        } catch {
            throw CNIError(error, doing: what)
        }
    }

    private func recordDirectory() throws(CNIError) -> String {
        guard !config.name.isEmpty, !config.name.contains("/"), config.name != ".", config.name != ".." else {
            throw CNIError(code: CNIError.invalidConfig, msg: "invalid network configuration",
                           details: "name: a network needs a name that can be a file name")
        }
        return config.dataDir + "/" + config.name
    }

    private func recordPath(in directory: String, containerID: String, ifname: String) -> String {
        directory + "/" + containerID + "-" + ifname
    }

    private func writeRecord(in directory: String, containerID: String, ifname: String, netns: String) throws(CNIError) {
        var path = ""
        for component in directory.split(separator: "/") {
            path += "/" + component
            guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
                throw CNIError(code: CNIError.ioFailure, msg: "cannot keep a record of the attachment",
                               details: "mkdir \(path): \(Errno(rawValue: errno))")
            }
        }
        let text = JSON.object([("containerID", .string(containerID)), ("ifname", .string(ifname)),
                                ("netns", .string(netns)), ("device", .string(device))]).text + "\n"
        let file = recordPath(in: directory, containerID: containerID, ifname: ifname)
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw CNIError(code: CNIError.ioFailure, msg: "cannot keep a record of the attachment",
                           details: "\(file): \(Errno(rawValue: errno))")
        }
        write(text, to: fd)
        close(fd)
    }

    private func removeRecord(in directory: String, containerID: String, ifname: String) {
        unlink(recordPath(in: directory, containerID: containerID, ifname: ifname))
    }

    private func readRecords(in directory: String) -> [(containerID: String, ifname: String, netns: String)] {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        return (SystemCalls.live.directoryEntries(fd) ?? []).sorted().compactMap { entry in
            guard let text = try? TextFile.read(directory + "/" + entry), let record = try? JSON.parse(Array(text.utf8)),
                  let id = record["containerID"]?.stringValue, let ifname = record["ifname"]?.stringValue,
                  let netns = record["netns"]?.stringValue else { return nil }
            return (id, ifname, netns)
        }
    }

    /// Runs the IPAM plugin with CNI_COMMAND `command`, this process's other
    /// parameters, and the whole configuration, as SPEC.md section 4 says; its
    /// result, or its error passed on.
    private func delegate(_ command: String) throws(CNIError) -> JSON? {
        let type = config.ipam?["type"]?.stringValue ?? ""
        guard !type.contains("/"), let program = environment.path.map({ $0 + "/" + type }).first(where: { access($0, X_OK) == 0 }) else {
            throw CNIError(code: CNIError.invalidConfig, msg: "no IPAM plugin \(type)",
                           details: "no executable \(type) in CNI_PATH (\(environment.path.joined(separator: ":")))")
        }
        let (status, output) = runDelegate(program, command: command, input: input)
        let answer = try? JSON.parse(output)
        guard status == 0 else {
            throw CNIError(code: Int(answer?["code"]?.integerValue ?? Int64(CNIError.delegate)),
                           msg: "IPAM plugin \(type): " + (answer?["msg"]?.stringValue ?? "failed with status \(status)"),
                           details: answer?["details"]?.stringValue ?? "")
        }
        return answer
    }
}

/// Runs `program` with CNI_COMMAND set to `command` and the rest of this
/// process's environment, `input` on its standard input; its exit status and
/// standard output. Its standard error is this process's.
private func runDelegate(_ program: String, command: String, input: [UInt8]) -> (status: Int32, output: [UInt8]) {
    var toChild: [CInt] = [-1, -1], fromChild: [CInt] = [-1, -1]
    guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else { return (-1, []) }
    // This process's ends stay out of the child; the file actions give it its own.
    for fd in toChild + fromChild { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, toChild[0], STDIN_FILENO)
    posix_spawn_file_actions_adddup2(&actions, fromChild[1], STDOUT_FILENO)
    var environment: [String] = []
    var entry: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = environ
    while let pointer = entry.pointee {
        let text = String(cString: pointer)
        if !text.hasPrefix("CNI_COMMAND=") { environment.append(text) }
        entry += 1
    }
    environment.append("CNI_COMMAND=" + command)
    let arguments: [UnsafeMutablePointer<CChar>?] = [strdup(program), nil]
    let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
    defer {
        for pointer in arguments + envp { free(pointer) }
    }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, program, &actions, nil, arguments, envp)
    close(toChild[0])
    close(fromChild[1])
    guard spawned == 0 else {
        close(toChild[1])
        close(fromChild[0])
        return (-1, [])
    }
    // The configuration is small, well under a pipe's buffer: written whole, then closed.
    input.withUnsafeBytes { bytes in
        var offset = 0
        while offset < bytes.count {
            let count = Glibc.write(toChild[1], bytes.baseAddress?.advanced(by: offset), bytes.count - offset)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            offset += count
        }
    }
    close(toChild[1])
    let output = (try? TextFile.bytes(descriptor: fromChild[0])) ?? []
    close(fromChild[0])
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let exited = status & 0x7f == 0
    return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), output)
}
