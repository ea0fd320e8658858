import Glibc
import TapCore

/// The command table: `help` and the parser read it, and so do the tests.
let commands = [
    createCommand, deleteCommand, listCommand, showCommand, setCommand, ifnameCommand,
    probeCommand, offloadCommand, vnetHdrSizeCommand, sndbufCommand, queueCommand,
    execCommand, sendCommand, bridgeHelperCommand,
]

/// Parses and runs one command line; returns the exit status.
func tapctl(_ arguments: [String]) -> Int32 {
    do {
        // Installed setuid root or with a file capability: become the real user
        // with CAP_NET_ADMIN alone before anything else.
        if PrivilegedHelper.isActive {
            try attempt("tapctl", nil) { () throws(TapError) in try PrivilegedHelper.enter() }
        }
        switch try Parser.parse(arguments, commands: commands) {
        case .help(let command):
            emit(command.map(commandHelp) ?? mainHelp(commands))
        case .version:
            emit("tapctl \(version)")
        case .batch(let path, let options):
            return runBatch(path: path, options: options)
        case .run(let invocation):
            try perform(invocation)
        }
        return ExitStatus.success.rawValue
    } catch {
        write(error.line + "\n", to: STDERR_FILENO)
        return error.status.rawValue
    }
}

/// Runs a parsed command, in its namespace.
func perform(_ invocation: Invocation) throws(Failure) {
    if let netns = invocation.netns {
        try attempt(invocation.command.name, nil) { () throws(TapError) in try NetworkNamespace.enter(netns) }
    }
    try invocation.command.run(invocation)
}
