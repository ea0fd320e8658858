import Glibc
import TapCore
import TapDataPath

/// Writes a line to standard output in as few write calls as it takes.
func emit(_ text: String) {
    write(text + "\n", to: STDOUT_FILENO)
}

func write(_ text: String, to fd: CInt) {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
        let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else { return }
        bytes = bytes.dropFirst(count)
    }
}

func emit(_ json: JSON) {
    emit(json.text)
}

/// Left-aligned columns separated by two spaces, the last one unpadded.
/// Widths count Unicode scalars, not Characters: names are ASCII nearly always,
/// where the two agree, and grapheme breaking is slow.
func table(_ rows: [[String]]) -> String {
    guard let columns = rows.first?.count else { return "" }
    let widths = (0..<columns).map { column in rows.map { $0[column].unicodeScalars.count }.max() ?? 0 }
    var out = ""
    for (index, row) in rows.enumerated() {
        if index > 0 { out += "\n" }
        for (column, cell) in row.enumerated() {
            out += cell
            if column < columns - 1 { out += String(repeating: " ", count: widths[column] - cell.unicodeScalars.count + 2) }
        }
    }
    return out
}

extension Failure {
    /// A core error as a one-line failure, with a hint where one helps.
    init(_ error: TapError, command: String, subject: String?) {
        let status: ExitStatus = switch error.category {
        case .usage: .usage
        case .permission: .permission
        case .notFound: .notFound
        case .exists: .exists
        case .busy: .busy
        case .failure: .failure
        }
        let subject = error.subject ?? subject
        if status == .usage {
            // A value the core found wrong (no such user, a bad combination):
            // the message says what; --help would not.
            self = .usage(command: command, subject: subject, message: error.message, syntax: false)
            return
        }
        let spec = commandTable.first { $0.name == command }?.spec()
        let hint = spec?.hint?(error) ?? Self.hint(for: error, takesHeldQueue: spec?.takesHeldQueue ?? false)
        let message = error.message + (hint.map { "; " + $0 } ?? "")
        self = .operation(command: command, subject: subject, message: message, status: status)
    }

    /// The hints every command shares; a command's own (`CommandSpec.hint`) come first.
    private static func hint(for error: TapError, takesHeldQueue: Bool) -> String? {
        switch error {
        case .notPermitted:
            return "run it as root or as the device's owner"
        case .inUse where takesHeldQueue:
            return "tapctl never adds a queue to a device in use; --fd N acts on a queue the holder passes"
        case .inUse:
            return "tapctl never adds a queue to a device in use"
        case .tunUnavailable(let errno) where errno == .noSuchFileOrDirectory || errno == .operationNotSupportedByDevice || errno == .noSuchAddressOrDevice:
            return "load the tun module (modprobe tun)"
        case .tunUnavailable(let errno) where errno == .permissionDenied || errno == .notPermitted:
            return tunAccessHint
        case .vhostUnavailable(let errno) where errno == .noSuchFileOrDirectory:
            return "load the vhost_net module (modprobe vhost_net), or leave out --vhost-net"
        case .descriptorTaken:
            return "--fd-start can move the range past it"
        case .cannotBecome:
            return "run it as root, or leave out --user and --group"
        case .cannotChangeInPlace(_, _, false):
            return "--replace deletes it and makes it again, when it is idle"
        default:
            return nil
        }
    }

    /// What an ordinary user can do when /dev/net/tun is closed to them.
    private static var tunAccessHint: String {
        var status = stat()
        let mode = stat("/dev/net/tun", &status) == 0 ? " (here it is " + String(status.st_mode & 0o777, radix: 8) + ")" : ""
        return "run it as root or with CAP_NET_ADMIN; an ordinary user needs /dev/net/tun mode 0666, "
            + "Debian's default\(mode), to work a device it owns, or tapctl installed as a privileged helper (tapctl(8), SECURITY)"
    }
}

extension TapError {
    /// The device or descriptor an error is about, when it names one.
    var subject: String? {
        switch self {
        case .alreadyExists(let name), .existsDifferently(let name, _), .notFound(let name), .intruder(let name, _),
             .notTunTap(let name, _), .inUse(let name, _), .notPermitted(let name, _, _), .identityChanged(let name),
             .foreignNamespace(let name, _), .namespaceUnverified(let name), .movedWhileActing(let name, _),
             .cannotChangeInPlace(let name, _, _):
            return name
        case .needsNetAdmin(let name):
            return name.contains("%") ? nil : name  // a template names no device yet
        case .accessDenied(let name, _):
            return name
        case .partlyDone(let error, _):
            return error.subject
        case .notOpen(let fd), .notTunDescriptor(let fd), .unattachedDescriptor(let fd), .queueRefused(let fd, _),
             .notASocket(let fd):
            return "fd \(fd)"
        default:
            return nil
        }
    }
}

/// Runs a core call, turning its error into a CLI failure.
func attempt<T: ~Copyable>(_ command: String, _ subject: String?, _ body: () throws(TapError) -> T) throws(Failure) -> T {
    do {
        return try body()
    } catch {
        throw Failure(error, command: command, subject: subject)
    }
}

extension Invocation {
    /// Gives up every capability, for a core call's `opened` hook. In a batch
    /// the later lines still need them: the batch drops them after its last line.
    var drop: () throws(TapError) -> Void {
        { [inBatch] () throws(TapError) in if !inBatch { try Capabilities.dropAll() } }
    }

    /// Gives up every capability once descriptors are open and privileged calls made.
    func dropPrivileges() throws(Failure) {
        try attempt(command.name, nil, drop)
    }
}

/// A command-line name, checked before anything touches the kernel: the
/// device's (the failure's subject), or a bridge's.
func interfaceName(_ text: String, command: String, allowTemplate: Bool = false, bridge: Bool = false) throws(Failure) -> InterfaceName {
    do {
        return try InterfaceName(text, allowTemplate: allowTemplate)
    } catch {
        let message = error.message
        throw bridge ? .usage(command: command, message: "bridge '\(text)': " + message, syntax: false)
            : .usage(command: command, subject: text.isEmpty ? nil : text, message: message, syntax: false)
    }
}
