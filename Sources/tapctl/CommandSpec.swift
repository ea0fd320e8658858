/// One option of a command, GNU style: `--name`, `--name VALUE` or `--name=VALUE`.
struct OptionSpec: Sendable {
    let name: String
    let short: Character?
    /// The value's placeholder in help, e.g. "USER"; nil for a flag.
    let value: String?
    let help: String
    /// Shown without brackets: the command needs it.
    var required = false
    /// Meaningful only with this other option, and shown inside its brackets.
    var parent: String?

    init(_ name: String, short: Character? = nil, value: String? = nil, required: Bool = false, parent: String? = nil,
         _ help: String) {
        self.name = name
        self.short = short
        self.value = value
        self.help = help
        self.required = required
        self.parent = parent
    }

    var display: String { "--" + name + (value.map { " " + $0 } ?? "") }
}

/// One subcommand: its words, options and operands, and the function that runs it.
struct CommandSpec: Sendable {
    let name: String
    /// Operands as shown in the synopsis, e.g. "NAME..." or "[NAME]".
    let operands: String
    let operandCount: ClosedRange<Int>
    let summary: String
    /// Paragraphs after the option list in `--help`.
    let details: String
    let options: [OptionSpec]
    /// Options that may not be given together.
    let exclusive: [(String, String)]
    let run: @Sendable (Invocation) throws(Failure) -> Void
    /// The words after "--" are a command line to run, not operands.
    var takesCommand = false
    /// Every key its `--json` output may carry, at any depth (the members of
    /// `ethtool` and `unknown` are names of features and keys, not keys).
    /// tapctl(8) documents each, and the kernel tests hold every JSON line
    /// the suite makes to this list.
    var jsonKeys: [String] = []

    /// The one line tapctl(8) and `--help` show (a test holds the
    /// first two to it): the operands, which may name options (`NAME|--fd N`),
    /// then every other option once, in table order, bracketed unless
    /// required, exclusive pairs as `[--up|--down]`, and options that need
    /// another inside its brackets. --json and --help, which every command
    /// takes, are left out.
    var synopsis: String {
        let inOperands = Set(operands.split(whereSeparator: { $0 == "|" || $0 == " " || $0 == "[" || $0 == "]" })
            .filter { $0.hasPrefix("--") }.map { String($0.dropFirst(2)) })
        var shown = inOperands.union(commonOptions.map(\.name))
        var words = ["tapctl", name] + (operands.isEmpty ? [] : [operands])
        for option in options where !shown.contains(option.name) && option.parent == nil {
            shown.insert(option.name)
            var text = option.display
            if let pair = exclusive.first(where: { $0.0 == option.name }), let other = self.option(named: pair.1) {
                text += "|" + other.display
                shown.insert(other.name)
            }
            for child in options where child.parent == option.name { text += " [" + child.display + "]" }
            words.append(option.required ? text : "[" + text + "]")
        }
        if takesCommand { words.append("-- COMMAND [ARG...]") }
        return words.joined(separator: " ")
    }

    func option(named name: String) -> OptionSpec? { options.first { $0.name == name } }
}

/// Options every command takes, and their meaning before the command too.
let commonOptions = [
    OptionSpec("json", short: "j", "print JSON for programs instead of text for people"),
    OptionSpec("help", short: "h", "show this help and exit"),
]

/// A device object's keys, in `list`, `show` and `probe NAME`.
let deviceJSONKeys = ["name", "index", "mode", "multi_queue", "vnet_hdr", "pi", "persist", "owner", "owner_name", "group",
                      "group_name", "any_user_can_attach", "queues", "detached_queues", "up", "mtu", "mac", "bridge",
                      "txqueuelen", "processes", "pid", "command", "fds"]
/// The kernel's side of `probe`, alone or as `kernel` in a device's probe.
let kernelProbeJSONKeys = ["release", "tun_mode", "features", "offloads_accepted", "offloads_refused", "vnet_hdr_sizes",
                           "vnet_le", "vnet_be", "max_queues", "untested"]
/// A failure's object under --json, and in a batch.
let failureJSONKeys = ["command", "subject", "error", "status", "line"]
