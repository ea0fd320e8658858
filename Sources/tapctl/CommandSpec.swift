/// One option of a command, GNU style: `--name`, `--name VALUE` or `--name=VALUE`.
struct OptionSpec: Sendable {
    let name: String
    let short: Character?
    /// The value's placeholder in help, e.g. "USER"; nil for a flag.
    let value: String?
    let help: String

    init(_ name: String, short: Character? = nil, value: String? = nil, _ help: String) {
        self.name = name
        self.short = short
        self.value = value
        self.help = help
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

    var synopsis: String {
        let flags = options.map { "[" + $0.display + "]" }.joined(separator: " ")
        let command = takesCommand ? "-- COMMAND [ARG...]" : ""
        return ["tapctl", name, operands, flags, command].filter { !$0.isEmpty }.joined(separator: " ")
    }

    func option(named name: String) -> OptionSpec? { options.first { $0.name == name } }
}

/// Options every command takes, and their meaning before the command too.
let commonOptions = [
    OptionSpec("json", short: "j", "print JSON for programs instead of text for people"),
    OptionSpec("help", short: "h", "show this help and exit"),
]
