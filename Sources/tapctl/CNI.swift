import Glibc
import SystemPackage
import TapSystem
import TapDataPath
import TapCore

// tapctl as a CNI plugin (containernetworking/cni SPEC.md, spec version
// 1.1.0): run with no arguments and CNI_COMMAND set, it takes its parameters
// from the environment and its configuration on standard input, and writes a
// result or an error object on standard output.

/// The spec versions this plugin speaks; results are written in the config's.
let cniVersions = ["0.4.0", "1.0.0", "1.1.0"]

/// A failure in CNI terms: the spec's code (tapctl's own from 100), a short
/// message, and the details.
struct CNIError: Error {
    let code: Int
    let msg: String
    var details = ""

    /// The spec's codes, and tapctl's own (tapctl(8), CNI PLUGIN).
    static let incompatibleVersion = 1, unsupportedField = 2, invalidEnvironment = 4, ioFailure = 5,
               decoding = 6, invalidConfig = 7, tryAgainLater = 11
    static let interfaceExists = 100, checkFailed = 101, notOurs = 102, kernel = 103, delegate = 104, helperMode = 105

    /// A library failure, in tapctl's words; busy becomes "try again later".
    init(_ error: TapError, doing what: String) {
        if case .inUse = error { code = Self.tryAgainLater } else { code = Self.kernel }
        msg = what
        details = error.message
    }

    init(code: Int, msg: String, details: String = "") {
        self.code = code
        self.msg = msg
        self.details = details
    }
}

/// The CNI parameters from the environment.
struct CNIEnvironment {
    let command: String
    let containerID: String?
    let netns: String?
    let ifname: String?
    let args: [(String, String)]
    let path: [String]

    static func read() -> CNIEnvironment {
        func value(_ name: String) -> String? { getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } }
        let args = (value("CNI_ARGS") ?? "").split(separator: ";").compactMap { pair -> (String, String)? in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
        }
        return CNIEnvironment(command: value("CNI_COMMAND") ?? "", containerID: value("CNI_CONTAINERID"),
                              netns: value("CNI_NETNS"), ifname: value("CNI_IFNAME"), args: args,
                              path: (value("CNI_PATH") ?? "").split(separator: ":").map(String.init))
    }

    /// Each variable `names` lists must be set (and the container ID well formed).
    func require(_ names: [String]) throws(CNIError) {
        var missing: [String] = []
        for name in names {
            switch name {
            case "CNI_CONTAINERID":
                // An alphanumeric first, then alphanumerics, '_', '.' or '-' (SPEC.md, section 3).
                let valid = containerID.map { id in
                    id.unicodeScalars.first.map { isAlphanumeric($0) } == true
                        && id.unicodeScalars.allSatisfy { isAlphanumeric($0) || $0 == "_" || $0 == "." || $0 == "-" }
                } ?? false
                if !valid { missing.append(name) }
            case "CNI_NETNS": if netns == nil { missing.append(name) }
            case "CNI_IFNAME": if ifname == nil { missing.append(name) }
            case "CNI_PATH": if path.isEmpty { missing.append(name) }
            default: break
            }
        }
        guard missing.isEmpty else {
            throw CNIError(code: CNIError.invalidEnvironment, msg: "invalid environment variables",
                           details: missing.joined(separator: ", ") + " must be set (CNI_CONTAINERID to an alphanumeric, then alphanumerics, '_', '.' or '-')")
        }
    }
}

private func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
    ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
}

/// A network configuration for `"type": "tapctl"`: every key of the
/// reference `tap` plugin, and tapctl's own. Unknown keys are ignored.
struct CNIConfig {
    var raw: JSON
    var cniVersion: String
    var name: String
    var request: CreateRequest
    /// The queues the VMM will open; more than one makes the device multiqueue.
    var queues = 1
    var vnetHeaderSize: Int?
    var offloads: Offloads?
    var ipam: JSON?
    var prevResult: JSON?
    var redirect = false
    /// The tap's name in redirect mode, where CNI_IFNAME is the sandbox's interface.
    var tapName = "tap0"
    /// Where ADD records what it made, for DEL and GC.
    var dataDir = "/var/lib/cni/tapctl"

    static func parse(_ bytes: [UInt8], environment: CNIEnvironment) throws(CNIError) -> CNIConfig {
        let raw: JSON
        do {
            raw = try JSON.parse(bytes)
        } catch {
            throw CNIError(code: CNIError.decoding, msg: "the configuration is not JSON",
                           details: "at byte \(error.offset): expected \(error.expected)")
        }
        guard raw.members != nil else { throw CNIError(code: CNIError.decoding, msg: "the configuration is not a JSON object") }
        let version = raw["cniVersion"]?.stringValue ?? ""
        guard cniVersions.contains(version) else {
            throw CNIError(code: CNIError.incompatibleVersion, msg: "incompatible CNI version",
                           details: "cniVersion '\(version)'; tapctl speaks " + cniVersions.joined(separator: ", "))
        }
        func invalid(_ key: String, _ why: String) -> CNIError {
            CNIError(code: CNIError.invalidConfig, msg: "invalid network configuration", details: "\(key): \(why)")
        }
        func string(_ key: String) throws(CNIError) -> String? {
            guard let value = raw[key], value != .null else { return nil }
            guard let text = value.stringValue else { throw invalid(key, "not a string") }
            return text
        }
        func bool(_ key: String) throws(CNIError) -> Bool? {
            guard let value = raw[key], value != .null else { return nil }
            guard case .bool(let flag) = value else { throw invalid(key, "not true or false") }
            return flag
        }
        func integer(_ key: String, _ range: ClosedRange<Int64>) throws(CNIError) -> Int64? {
            guard let value = raw[key], value != .null else { return nil }
            guard let number = value.integerValue, range.contains(number) else {
                throw invalid(key, "not a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }
        /// A user or group by name or number.
        func account(_ key: String, _ lookup: (String) throws(TapError) -> UInt32) throws(CNIError) -> UInt32? {
            guard let value = raw[key], value != .null else { return nil }
            let text: String
            if let number = value.integerValue, number >= 0, number < Int64(UInt32.max) {
                text = String(number)
            } else if let name = value.stringValue {
                text = name
            } else {
                throw invalid(key, "not a name or a number")
            }
            do {
                return try lookup(text)
            } catch {
                throw invalid(key, error.message)
            }
        }

        let ifname = environment.ifname ?? ""
        var config = CNIConfig(raw: raw, cniVersion: version, name: try string("name") ?? "",
                               request: CreateRequest(name: InterfaceName(checked: "tap0")))
        config.redirect = try bool("redirect") ?? false
        if let tap = try string("tapName") { config.tapName = tap }
        let deviceName = config.redirect ? config.tapName : ifname
        if !deviceName.isEmpty {
            do {
                config.request.name = try InterfaceName(deviceName, allowTemplate: false)
            } catch {
                throw config.redirect ? invalid("tapName", error.message)
                    : CNIError(code: CNIError.invalidEnvironment, msg: "invalid environment variables", details: "CNI_IFNAME: " + error.message)
            }
        }
        if let selinux = try string("selinuxContext"), !selinux.isEmpty {
            throw CNIError(code: CNIError.unsupportedField, msg: "unsupported field",
                           details: "selinuxContext \"\(selinux)\": tapctl does not label the socket it creates devices with")
        }
        let multiQueue = try bool("multiQueue")
        if let queues = try integer("queues", 1...256) { config.queues = Int(queues) }
        if let multiQueue, config.raw["queues"] != nil, multiQueue != (config.queues > 1) {
            throw invalid("multiQueue", "\(multiQueue) contradicts queues \(config.queues): a device is multiqueue exactly when it has more than one queue")
        }
        config.request.multiQueue = multiQueue ?? (config.queues > 1)
        config.request.vnetHeader = try bool("vnetHdr") ?? false
        if let size = try integer("vnetHdrSize", 0...64) {
            do {
                try SettingLimits.checkVnetHeaderSize(Int(size))
            } catch {
                throw invalid("vnetHdrSize", error.message)
            }
            config.vnetHeaderSize = Int(size)
        }
        if let list = try string("offloads") {
            do {
                config.offloads = try Offloads(parsing: list)
            } catch {
                throw invalid("offloads", error.message)
            }
        }
        config.request.owner = try account("owner", Accounts.userID).map { .user($0) } ?? .none
        config.request.group = try account("group", Accounts.groupID)
        if let mtu = try integer("mtu", 0...65535), mtu > 0 { config.request.link.mtu = UInt32(mtu) }
        if let length = try integer("txqueuelen", 0...Int64(UInt32.max)) { config.request.link.txQueueLength = UInt32(length) }
        // The MAC: CNI_ARGS "MAC=", then runtimeConfig.mac (the "mac" capability), over the config's.
        var mac = try string("mac")
        if let fromArgs = environment.args.last(where: { $0.0 == "MAC" })?.1 { mac = fromArgs }
        if let fromRuntime = raw["runtimeConfig"]?["mac"]?.stringValue { mac = fromRuntime }
        if let mac {
            do {
                config.request.link.mac = try MACAddress(parsing: mac)
            } catch {
                throw invalid("mac", error.message)
            }
        }
        if let bridge = try string("bridge"), !bridge.isEmpty { config.request.link.bridge = .attach(bridge) }
        config.request.link.up = true
        // Only processes already in the sandbox could attach, and the runtime
        // starts the container's after ADD: no window to hide the device from.
        config.request.hideWhileMaking = false
        if let ipam = raw["ipam"], ipam.members?.isEmpty == false {
            guard ipam["type"]?.stringValue?.isEmpty == false else { throw invalid("ipam", "an IPAM section needs a type") }
            config.ipam = ipam
        }
        config.prevResult = raw["prevResult"]
        if let directory = try string("dataDir") { config.dataDir = directory }
        return config
    }
}

/// Runs one CNI operation and returns the exit status.
func cniMain() -> Int32 {
    let environment = CNIEnvironment.read()
    var version = "1.1.0"
    do throws(CNIError) {
        guard !PrivilegedHelper.isActive() else {
            throw CNIError(code: CNIError.helperMode, msg: "tapctl refuses CNI mode in privileged-helper mode",
                           details: "a CNI runtime runs its plugins as root; install tapctl as an ordinary root program for it")
        }
        let input: [UInt8]
        do {
            input = try TextFile.bytes(descriptor: STDIN_FILENO)
        } catch {
            throw CNIError(code: CNIError.ioFailure, msg: "cannot read the configuration", details: "\(error)")
        }
        if environment.command == "VERSION" {
            let asked = (try? JSON.parse(input))?["cniVersion"]?.stringValue
            emit(.object([("cniVersion", .string(asked ?? "1.1.0")),
                          ("supportedVersions", .array(cniVersions.map { .string($0) }))]))
            return 0
        }
        if let asked = (try? JSON.parse(input))?["cniVersion"]?.stringValue { version = asked }
        let config = try CNIConfig.parse(input, environment: environment)
        version = config.cniVersion
        let plugin = CNIPlugin(environment: environment, config: config, input: input)
        switch environment.command {
        case "ADD": emit(try plugin.add())
        case "DEL": try plugin.delete()
        case "CHECK": try plugin.check()
        case "GC": try plugin.collectGarbage()
        case "STATUS": try plugin.status()
        default:
            throw CNIError(code: CNIError.invalidEnvironment, msg: "invalid environment variables",
                           details: "CNI_COMMAND '\(environment.command)' is not ADD, DEL, CHECK, GC, STATUS or VERSION")
        }
        return 0
    } catch {
        if !cniVersions.contains(version) { version = "1.1.0" }
        emit(.object([("cniVersion", .string(version)), ("code", .int(Int64(error.code))), ("msg", .string(error.msg)),
                      ("details", .string(error.details))]))
        return 1
    }
}
