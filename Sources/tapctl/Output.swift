import Glibc
import TapCore

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
func table(_ rows: [[String]]) -> String {
    guard let columns = rows.first?.count else { return "" }
    let widths = (0..<columns).map { column in rows.map { $0[column].count }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { column, cell in
            column == columns - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count)
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}

extension Failure {
    /// A core error as a one-line operational failure, with a hint where one helps.
    init(_ error: TapError, command: String, subject: String?) {
        let status: ExitStatus = switch error.category {
        case .usage:
            // Only names, users and groups from the command line get here.
            .usage
        case .permission: .permission
        case .notFound: .notFound
        case .exists: .exists
        case .busy: .busy
        case .failure: .failure
        }
        if status == .usage {
            self = .usage(command: command, message: error.message)
            return
        }
        let message = error.message + (Self.hint(for: error, command: command).map { "; " + $0 } ?? "")
        self = .operation(command: command, subject: error.subject ?? subject, message: message, status: status)
    }

    private static func hint(for error: TapError, command: String) -> String? {
        switch error {
        case .alreadyExists where command == "create":
            return "--exist-ok accepts an existing device of the same kind"
        case .notFound where command == "delete":
            return "--missing-ok ignores missing devices"
        case .needsNetAdmin:
            return "run it as root, or have root create the device with --user YOU: its owner can then attach without CAP_NET_ADMIN"
        case .notPermitted:
            return "run it as root or as the device's owner"
        case .inUse where command == "delete":
            return "stop that process first"
        case .inUse:
            return "tapctl never adds a queue to a device in use; --fd N acts on a holder's descriptor"
        case .tunUnavailable(let errno) where errno == .ENOENT || errno == .ENODEV || errno == .ENXIO:
            return "load the tun module (modprobe tun)"
        case .vhostUnavailable(let errno) where errno == .ENOENT:
            return "load the vhost_net module (modprobe vhost_net), or leave out --vhost-net"
        case .descriptorTaken:
            return "--fd-start can move the range past it"
        default:
            return nil
        }
    }
}

extension TapError {
    /// The device or descriptor an error is about, when it names one.
    var subject: String? {
        switch self {
        case .alreadyExists(let name), .existsDifferently(let name, _), .notFound(let name), .intruder(let name, _),
             .notTunTap(let name, _), .inUse(let name, _), .needsNetAdmin(let name),
             .notPermitted(let name, _, _), .identityChanged(let name):
            return name
        case .accessDenied(let name, _):
            return name
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

/// A command-line name, checked before anything touches the kernel.
func interfaceName(_ text: String, command: String, allowTemplate: Bool = false) throws(Failure) -> InterfaceName {
    do {
        return try InterfaceName(text, allowTemplate: allowTemplate)
    } catch {
        throw .usage(command: command, message: TapError.invalidName(text, error).message)
    }
}
