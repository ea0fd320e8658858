import Glibc
import SystemPackage
import TapSystem
import TapCore
import TapDataPath

let applyCommand = CommandSpec(
    name: "apply",
    operands: "FILE|-",
    operandCount: 1...1,
    summary: "make this namespace's tun/tap devices what FILE declares",
    details: """
        FILE (- for standard input) holds create lines, in the words, quotes
        and comments of --batch: one device each, with a name, not a template.
        Every line is checked first (syntax, names, values, users, groups);
        nothing changes if one is wrong. What depends on the host (a bridge
        not there yet, a busy device) fails that device alone, with its line.
        Then a missing device is made; an existing one
        is changed in place where that disturbs no holder (MTU, address, queue
        length, bridge and up over rtnetlink; vnet_hdr, pi, owner and group
        through a queue of an idle device); what cannot change in place (the
        mode, the multiqueue flag, an owner or group to remove) is an error,
        unless --replace makes an idle device again. A change that fails is
        undone: a device ends as it was or as declared. Settings a line does
        not name are left as they are. Devices not in FILE are left alone,
        but for idle ones --prune GLOB matches, which are deleted (busy ones
        are kept). Prints one line a device: created, changed (with what),
        unchanged, replaced, deleted, kept, or the error. --check runs the same
        planning, changes nothing, and exits 7 when something would change and
        nothing would fail. At boot, --bridges-later makes the devices before
        their bridges exist, and --wait SECONDS, once the network is up, joins
        them as their bridges appear. tapctl dump prints a FILE apply accepts.
        """,
    options: [
        OptionSpec(.check, "change nothing; say what would change, and exit 7 if anything would"),
        OptionSpec(.replace, "delete and make again an idle device that cannot change in place"),
        OptionSpec(.prune, value: "GLOB", "delete the idle tun/tap devices matching GLOB that FILE does not declare"),
        OptionSpec(.bridgesLater, "make a device whose bridge does not exist yet without it, and say so"),
        OptionSpec(.wait, value: "SECONDS", "wait up to SECONDS for bridges that do not exist yet, joining each as it appears"),
    ] + commonOptions,
    exclusive: [],
    run: runApply,
    jsonKeys: ["name", "line", "action", "changes", "field", "from", "to", "reason", "error", "status"]
)

/// The declarations of an apply file, each line checked as `create` checks it,
/// with its line number.
func declarations(_ text: String, command: String) throws(Failure) -> [(request: CreateRequest, line: Int)] {
    var declared: [(request: CreateRequest, line: Int)] = []
    for (offset, line) in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
        func failure(_ message: String) -> Failure { .usage(command: nil, message: message, syntax: false) }
        do {
            let words = try BatchWords.split(Substring(line))
            guard let first = words.first else { continue }
            guard first == "create" else { throw failure("'\(first)' is not create: a line declares one device") }
            guard case .run(let invocation) = try Parser.parse(words, inBatch: true) else {
                throw failure("a line declares one device")
            }
            if invocation.has(.existOk) { throw failure("--exist-ok has no place here: apply converges an existing device") }
            let request: CreateRequest
            do {
                request = try createRequest(invocation)
            } catch {
                throw error.naming(invocation.subject)
            }
            if request.name.isTemplate { throw failure("\(request.name.value) is a template; a declared device needs its own name") }
            if let earlier = declared.first(where: { $0.request.name == request.name }) {
                throw failure("\(request.name.value) is declared on line \(earlier.line) already")
            }
            try attempt("create", request.name.value) { () throws(TapError) in try TapControl().checkDeclaration(request) }
            declared.append((request, offset + 1))
        } catch let problem as BatchWords.Problem {
            throw failure(problem.description).onLine(offset + 1)
        } catch let error as Failure {
            throw error.onLine(offset + 1)
        } catch {
            throw failure("\(error)").onLine(offset + 1)
        }
    }
    return declared
}

extension Failure {
    /// The same failure, about line `number` of apply's file: "line 3: create tap0: ...".
    func onLine(_ number: Int) -> Failure {
        let about = [command, subject].compactMap { $0 }.joined(separator: " ")
        let message = "line \(number): " + (about.isEmpty ? "" : about + ": ") + self.message
        return self.status == .usage ? .usage(command: "apply", message: message, syntax: false)
            : .operation(command: "apply", subject: nil, message: message, status: self.status)
    }
}

private func runApply(_ invocation: Invocation) throws(Failure) {
    let command = invocation.command.name
    let path = invocation.operands[0]
    let text: String
    do {
        text = try path == "-" ? TextFile.read(descriptor: STDIN_FILENO) : TextFile.read(path)
    } catch {
        throw .operation(command: command, subject: nil, message: "cannot read \(path): \(error)", status: .failure)
    }
    let lines = try declarations(text, command: command)
    let declared = lines.map(\.request)
    var options = ApplyOptions()
    options.check = invocation.has(.check)
    options.replace = invocation.has(.replace)
    options.prune = invocation.values[.prune]
    options.bridgesLater = invocation.has(.bridgesLater)
    if let text = invocation.values[.wait] {
        guard let seconds = Int(text), (0...3600).contains(seconds) else {
            throw .usage(command: command, message: "--wait '\(text)' is not a number of seconds from 0 to 3600")
        }
        options.waitForBridges = seconds
    }
    let control = try invocation.control()
    let results = try attempt(command, nil) { () throws(TapError) in try control.apply(declared, options: options) }
    try invocation.dropPrivileges()
    var status = ExitStatus.success
    for result in results {
        // A device's failure names its line; a device that --prune found has none.
        let line = lines.first { $0.request.name.names(result.name) }?.line
        let failure = result.error.map { Failure($0, command: command, subject: result.name) }.map { failure in
            line.map { Failure.operation(command: command, subject: result.name, message: "line \($0): " + failure.message,
                                         status: failure.status) } ?? failure
        }
        if let failure, status == .success || status == .changesNeeded { status = failure.status }
        let changes = result.action != .unchanged && result.action != .kept
        if options.check, failure == nil, changes, status == .success { status = .changesNeeded }
        if invocation.json {
            emit(.object([("name", .string(result.name)), ("line", .optional(line)), ("action", .string(result.action.rawValue)),
                          ("changes", .array(result.fields.map(changeJSON))),
                          ("reason", .optional(result.keptReason)),
                          ("error", .optional(failure?.message)),
                          ("status", .int(Int64(failure?.status.rawValue ?? 0)))]))
        } else if let failure {
            write(failure.line + "\n", to: STDERR_FILENO)
        } else {
            let verb = options.check ? ["created": "would create", "changed": "would change", "replaced": "would replace",
                                        "deleted": "would delete"][result.action.rawValue] : nil
            emit((verb ?? result.action.rawValue) + " " + result.name
                 + (result.changeText.isEmpty ? "" : ": " + result.changeText.joined(separator: ", ")))
            // A kept device's reason is already in its line; nothing else to say.
        }
    }
    guard status == .success else { throw .reported(status) }
}

/// One changed field as JSON: numbers as numbers, owners and groups by name
/// where they have one (as dump writes them), on and off as booleans.
private func changeJSON(_ change: AppliedDevice.Change) -> JSON {
    func value(_ value: AppliedDevice.Change.Value) -> JSON {
        switch value {
        case .number(let number): return .optional(number)
        case .text(let text): return .optional(text)
        case .flag(let on): return .bool(on)
        case .user(let uid): return uid.map { uid in Accounts.userName(uid).map(JSON.string) ?? .int(Int64(uid)) } ?? .null
        case .group(let gid): return gid.map { gid in Accounts.groupName(gid).map(JSON.string) ?? .int(Int64(gid)) } ?? .null
        }
    }
    return .object([("field", .string(change.field)), ("from", value(change.from)), ("to", value(change.to))])
}

extension AppliedDevice {
    /// A kept device's reason: who holds it.
    var keptReason: String? {
        guard action == .kept else { return nil }
        return TapError.inUse(name, holders: holders ?? []).message
    }

    /// What differed, each as "what before -> after" ("mtu 1500 -> 9000");
    /// for `kept`, why; and a bridge left for later.
    var changeText: [String] {
        (keptReason.map { [$0] } ?? fields.map(\.description))
            + (bridgeLater.map { ["bridge \($0) later: it does not exist yet"] } ?? [])
    }
}
