import Glibc
import CTapctlMain
import TapCore
import TapDataPath

/// argv after the program's name, as the kernel passed it: CommandLine.arguments
/// reads /proc/self/cmdline, which a chroot may not have. (A function, not a
/// global of main.swift: those are main-actor state, and checking the actor
/// linked Swift's whole concurrency runtime into tapctl.)
func argumentsAsPassed() -> [String] {
    (1..<Int(ctap_argc())).compactMap { index in ctap_argv()?[index].map { String(cString: $0) } }
}

/// The command table, in the order help lists it. Each spec is a global made
/// when first used, so a command line builds only its own: building the
/// whole table would be a large part of a short command's start-up.
let commandTable: [(name: String, spec: @Sendable () -> CommandSpec)] = [
    ("create", { createCommand }), ("delete", { deleteCommand }), ("list", { listCommand }), ("show", { showCommand }),
    ("set", { setCommand }), ("ifname", { ifnameCommand }), ("probe", { probeCommand }), ("offload", { offloadCommand }),
    ("vnet-hdr-size", { vnetHdrSizeCommand }), ("sndbuf", { sndbufCommand }), ("queue", { queueCommand }),
    ("exec", { execCommand }), ("send", { sendCommand }), ("bridge-helper", { bridgeHelperCommand }),
    ("apply", { applyCommand }), ("dump", { dumpCommand }), ("completion", { completionCommand }),
]

/// Every command, for help and the tests.
var commands: [CommandSpec] { commandTable.map { $0.spec() } }

func command(named name: String) -> CommandSpec? {
    commandTable.first { $0.name == name }?.spec()
}

/// Parses and runs one command line; returns the exit status.
func tapctl(_ arguments: [String]) -> Int32 {
    // Run as a CNI plugin: no arguments, the operation in the environment.
    if arguments.isEmpty, getenv("CNI_COMMAND") != nil { return cniMain() }
    do {
        // Installed setuid root or with a file capability: become the real user
        // with CAP_NET_ADMIN alone before anything else.
        if PrivilegedHelper.isActive() {
            try attempt("tapctl", nil) { () throws(TapError) in try PrivilegedHelper.enter() }
        }
        switch try Parser.parse(arguments) {
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
        report(error, json: wantsJSON(arguments))
        return error.status.rawValue
    }
}

/// A failure goes to standard error as one line; under --json it is one
/// object on standard output instead, where the program reading the results is.
func report(_ failure: Failure, json: Bool) {
    if case .reported = failure { return }
    if json {
        emit(failure.json)
    } else {
        write(failure.line + "\n", to: STDERR_FILENO)
    }
}

/// --json (or -j) among the options, before any "--": known even when the
/// command line does not parse.
func wantsJSON(_ arguments: [String]) -> Bool {
    arguments.prefix { $0 != "--" }.contains { $0 == "--json" || $0 == "-j" }
}

/// Runs a parsed command, in its namespace.
func perform(_ invocation: Invocation) throws(Failure) {
    if let netns = invocation.netns {
        try attempt(invocation.command.name, nil) { () throws(TapError) in try NetworkNamespace.enter(netns) }
    }
    do {
        try invocation.command.run(invocation)
    } catch {
        throw error.naming(invocation.subject)
    }
}
