import TapCore
import TapDataPath

/// A parsed command line.
struct Invocation {
    let command: CommandSpec
    let json: Bool
    /// --netns: the network namespace to act in.
    let netns: String?
    let flags: Set<Option>
    let values: [Option: String]
    let operands: [String]
    /// After "--", for a command that runs one.
    let trailing: [String]
    /// A line of `--batch`: privileges stay until the last line.
    var inBatch = false

    func has(_ flag: Option) -> Bool { flags.contains(flag) }
}

/// Why a command line or a command failed, and the exit status to return.
/// One form for every failure: `tapctl: COMMAND SUBJECT: what happened[; hint]`,
/// SUBJECT the device or `fd N` when there is one.
enum Failure: Error, Equatable {
    /// The words on the command line are wrong; nothing was done. A `syntax`
    /// error points at the help, which shows the right words; a value that
    /// names nothing (no such user, no such bridge) does not.
    case usage(command: String?, subject: String? = nil, message: String, syntax: Bool = true)
    /// The operation failed on `subject` (a device or descriptor).
    case operation(command: String, subject: String?, message: String, status: ExitStatus)
    /// The command printed what went wrong itself (apply, a line a device):
    /// only the status is left.
    case reported(ExitStatus)

    var command: String? {
        switch self {
        case .usage(let command, _, _, _): return command
        case .operation(let command, _, _, _): return command
        case .reported: return nil
        }
    }

    var subject: String? {
        switch self {
        case .usage(_, let subject, _, _), .operation(_, let subject, _, _): return subject
        case .reported: return nil
        }
    }

    /// What happened, with the hint, without the "tapctl: COMMAND SUBJECT: " prefix.
    var message: String {
        switch self {
        case .usage(let command, _, let message, let syntax):
            // help has no help of its own but tapctl's.
            let help = command.map { $0 == "help" ? "tapctl --help" : "tapctl \($0) --help" } ?? "tapctl --help"
            return message + (syntax ? " (see '\(help)')" : "")
        case .operation(_, _, let message, _):
            return message
        case .reported:
            return ""
        }
    }

    /// The line for standard error. Control characters from the command line
    /// (a name holding a newline, say) are shown as \xNN: one failure, one line.
    var line: String {
        let prefix = [command, subject].compactMap { $0 }.joined(separator: " ")
        return Self.printable("tapctl: " + (prefix.isEmpty ? "" : prefix + ": ") + message)
    }

    /// The object `--json` prints on standard output instead of the line.
    var json: JSON {
        .object([("command", .optional(command)), ("subject", .optional(subject)), ("error", .string(message)),
                 ("status", .int(Int64(status.rawValue)))])
    }

    var status: ExitStatus {
        switch self {
        case .usage: return .usage
        case .operation(_, _, _, let status), .reported(let status): return status
        }
    }

    /// A usage error found while running an invocation names its subject.
    func naming(_ subject: String?) -> Failure {
        guard case .usage(let command, nil, let message, let syntax) = self, let subject else { return self }
        return .usage(command: command, subject: subject, message: message, syntax: syntax)
    }

    static func printable(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f {
                let hex = String(scalar.value, radix: 16)
                out += "\\x" + (hex.count < 2 ? "0" : "") + hex
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

extension Invocation {
    /// What an error about this command line names: the descriptor of `--fd`
    /// (bridge-helper's is a socket, and its subject the bridge), or the device operand.
    var subject: String? {
        let fd = values[.fd].flatMap(decimal).map { "fd \($0)" }
        let name = command.operands.contains("NAME") ? operands.first.flatMap { $0.isEmpty ? nil : $0 } : nil
        switch command.subject {
        case .option(let option, let fallback): return values[option] ?? fallback
        case .singleDevice: return operands.count == 1 ? name : nil
        case .deviceOrDescriptor: return fd ?? name
        }
    }
}

/// Documented in tapctl(8), EXIT STATUS, which a test holds to these cases.
enum ExitStatus: Int32, CaseIterable {
    case success = 0
    case failure = 1
    case usage = 2
    case permission = 3
    case notFound = 4
    case exists = 5
    case busy = 6
    /// apply --check: the namespace differs from the file.
    case changesNeeded = 7
    /// exec: COMMAND was found but could not be run (as env(1) and the shells say).
    case notExecutable = 126
    /// exec: COMMAND was not found.
    case notRunnable = 127
}
