import TapDataPath

/// Every option of every command, by its long name: what an `Invocation`
/// is keyed by, so a misspelt option is a compile error, not a silent nil.
enum Option: String, CaseIterable, Sendable {
    case all
    case br
    case bridge
    case bridgesLater = "bridges-later"
    case check
    case create
    case down
    case existOk = "exist-ok"
    case fd
    case fdStart = "fd-start"
    case group
    case help
    case json
    case mac
    case match
    case missingOk = "missing-ok"
    case mtu
    case multiqueue
    case noNewPrivs = "no-new-privs"
    case noOwner = "no-owner"
    case noVnetHdr = "no-vnet-hdr"
    case nobridge
    case offload
    case persist
    case pi
    case prune
    case queues
    case replace
    case sndbuf
    case socket
    case timeout
    case tun
    case txqueuelen
    case up
    case useVnet = "use-vnet"
    case user
    case vhostNet = "vhost-net"
    case vnetHdr = "vnet-hdr"
    case vnetHdrSize = "vnet-hdr-size"
    case wait
}
/// One option of a command, GNU style: `--name`, `--name VALUE` or `--name=VALUE`.
struct OptionSpec: Sendable {
    let name: Option
    let short: Character?
    /// The value's placeholder in help, e.g. "USER"; nil for a flag.
    let value: String?
    let help: String
    /// Shown without brackets: the command needs it.
    var required = false
    /// Meaningful only with this other option, and shown inside its brackets.
    var parent: Option?

    init(_ name: Option, short: Character? = nil, value: String? = nil, required: Bool = false, parent: Option? = nil,
         _ help: String) {
        self.name = name
        self.short = short
        self.value = value
        self.help = help
        self.required = required
        self.parent = parent
    }

    var display: String { "--" + name.rawValue + (value.map { " " + $0 } ?? "") }
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
    let exclusive: [(Option, Option)]
    let run: @Sendable (Invocation) throws(Failure) -> Void
    /// The words after "--" are a command line to run, not operands.
    var takesCommand = false
    /// Every key its `--json` output may carry, at any depth (the members of
    /// `ethtool` and `unknown` are names of features and keys, not keys).
    /// tapctl(8) documents each, and the kernel tests hold every JSON line
    /// the suite makes to this list.
    var jsonKeys: [String] = []
    /// Whether privileged-helper mode reads the access list for it.
    var accessList: AccessListNeed = .always
    /// Whether a `--batch` line may run it.
    var batch: BatchRule = .allowed
    /// What an error names after the command: a device or `fd N`, or another.
    var subject: SubjectRule = .deviceOrDescriptor
    /// It can act on a queue a holder passes with --fd N, so a device in use is no dead end.
    var takesHeldQueue = false
    /// This command's hint for an error, before the hints every command shares.
    var hint: (@Sendable (TapError) -> String?)? = nil

    /// The one line tapctl(8) and `--help` show (a test holds the
    /// first two to it): the operands, which may name options (`NAME|--fd N`),
    /// then every other option once, in table order, bracketed unless
    /// required, exclusive pairs as `[--up|--down]`, and options that need
    /// another inside its brackets. --json and --help, which every command
    /// takes, are left out.
    var synopsis: String {
        let inOperands = Set(operands.split(whereSeparator: { $0 == "|" || $0 == " " || $0 == "[" || $0 == "]" })
            .filter { $0.hasPrefix("--") }.compactMap { Option(rawValue: String($0.dropFirst(2))) })
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

    func option(named name: Option) -> OptionSpec? { options.first { $0.name == name } }

    /// The option of this command whose long name is `text`.
    func option(named text: String) -> OptionSpec? { Option(rawValue: text).flatMap(option(named:)) }
}

/// When privileged-helper mode needs the access list for a command.
enum AccessListNeed: Sendable {
    /// Always: it acts on devices by name, or makes them.
    case always
    /// Never: it reads, or acts on a descriptor the user holds.
    case never
    /// Only when it acts on a device by name rather than `--fd`.
    case unlessDescriptor
}

/// Whether a command can be a line of `--batch`, which runs in one process.
enum BatchRule: Sendable {
    case allowed
    /// Never: what it does ends or changes the whole process (why).
    case refused(String)
    /// Not with these options, which change the whole process.
    case refusedWith([Option])
}

/// What `tapctl: COMMAND SUBJECT:` names.
enum SubjectRule: Sendable {
    /// `fd N` with --fd, else the device operand.
    case deviceOrDescriptor
    /// The device operand when there is exactly one.
    case singleDevice
    /// The value of `option`, or `fallback`.
    case option(Option, fallback: String)
}

/// Options every command takes, and their meaning before the command too.
let commonOptions = [
    OptionSpec(.json, short: "j", "print JSON for programs instead of text for people"),
    OptionSpec(.help, short: "h", "show this help and exit"),
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
