/// A parsed command line.
struct Invocation {
    let command: CommandSpec
    let json: Bool
    /// --netns: the network namespace to act in.
    let netns: String?
    let flags: Set<String>
    let values: [String: String]
    let operands: [String]
    /// After "--", for a command that runs one.
    let trailing: [String]
    /// A line of `--batch`: privileges stay until the last line.
    var inBatch = false

    func has(_ flag: String) -> Bool { flags.contains(flag) }
}

/// Why a command line or a command failed, and the exit status to return.
enum Failure: Error, Equatable {
    /// The words on the command line are wrong; nothing was done.
    case usage(command: String?, message: String)
    /// The operation failed on `subject` (a device or descriptor).
    case operation(command: String, subject: String?, message: String, status: ExitStatus)

    var line: String {
        switch self {
        case .usage(let command, let message):
            let help = command.map { "tapctl \($0) --help" } ?? "tapctl --help"
            return "tapctl: " + (command.map { $0 + ": " } ?? "") + message + " (see '\(help)')"
        case .operation(let command, let subject, let message, _):
            return "tapctl: \(command)" + (subject.map { " " + $0 } ?? "") + ": " + message
        }
    }

    var status: ExitStatus {
        switch self {
        case .usage: return .usage
        case .operation(_, _, _, let status): return status
        }
    }
}

/// Documented in README.md and tapctl(8), EXIT STATUS.
enum ExitStatus: Int32 {
    case success = 0
    case failure = 1
    case usage = 2
    case permission = 3
    case notFound = 4
    case exists = 5
    case busy = 6
    /// exec: COMMAND was found but could not be run (as env(1) and the shells say).
    case notExecutable = 126
    /// exec: COMMAND was not found.
    case notRunnable = 127
}
