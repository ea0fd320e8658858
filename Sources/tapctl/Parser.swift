/// Hand-rolled GNU-style parsing against the command table: global options, a
/// command word, then options and operands in any order until "--".
enum Parser {
    enum Result {
        case help(CommandSpec?)
        case version
        case run(Invocation)
    }

    static func parse(_ arguments: [String], commands: [CommandSpec]) throws(Failure) -> Result {
        var json = false
        var netns: String?
        var index = 0
        while index < arguments.count, arguments[index].hasPrefix("-") {
            let argument = arguments[index]
            index += 1
            switch argument {
            case "--help", "-h": return .help(nil)
            case "--version": return .version
            case "--json", "-j": json = true
            case "--netns", "-n":
                guard index < arguments.count else {
                    throw .usage(command: nil, message: "option '--netns' needs a value (NAME|PATH)")
                }
                guard netns == nil else { throw .usage(command: nil, message: "option '--netns' given twice") }
                netns = arguments[index]
                index += 1
            case let other where other.hasPrefix("--netns="):
                guard netns == nil else { throw .usage(command: nil, message: "option '--netns' given twice") }
                netns = String(other.dropFirst("--netns=".count))
            default: throw .usage(command: nil, message: "unknown option '\(argument)'")
            }
        }
        if netns?.isEmpty == true { throw .usage(command: nil, message: "option '--netns' needs a value (NAME|PATH)") }
        guard index < arguments.count else { throw .usage(command: nil, message: "no command given") }
        let word = arguments[index]
        let rest = Array(arguments[(index + 1)...])
        if word == "help" {
            guard let topic = rest.first else { return .help(nil) }
            guard rest.count == 1 else { throw .usage(command: "help", message: "unexpected argument '\(rest[1])'") }
            guard let command = commands.first(where: { $0.name == topic }) else {
                throw .usage(command: "help", message: "unknown command '\(topic)'")
            }
            return .help(command)
        }
        guard let command = commands.first(where: { $0.name == word }) else {
            throw .usage(command: nil, message: "unknown command '\(word)'")
        }
        let options = rest.prefix { $0 != "--" }
        if options.contains(where: { $0 == "--help" || $0 == "-h" }) { return .help(command) }
        return .run(try parseCommand(command, rest, json: json, netns: netns))
    }

    private static func parseCommand(_ command: CommandSpec, _ arguments: [String], json: Bool,
                                     netns: String?) throws(Failure) -> Invocation {
        func usage(_ message: String) -> Failure { .usage(command: command.name, message: message) }
        var json = json
        var flags: Set<String> = []
        var values: [String: String] = [:]
        var operands: [String] = []
        var trailing: [String] = []
        var index = 0
        var optionsEnded = false
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if optionsEnded && command.takesCommand {
                trailing.append(argument)
                continue
            }
            if optionsEnded || argument == "-" || !argument.hasPrefix("-") {
                operands.append(argument)
                continue
            }
            if argument == "--" {
                optionsEnded = true
                continue
            }
            let name: String
            var inline: String?
            if argument.hasPrefix("--") {
                let body = argument.dropFirst(2)
                if let equals = body.firstIndex(of: "=") {
                    name = String(body[..<equals])
                    inline = String(body[body.index(after: equals)...])
                } else {
                    name = String(body)
                }
            } else if argument.count == 2, let short = argument.last,
                      let option = (command.options + commonOptions).first(where: { $0.short == short }) {
                name = option.name
            } else {
                throw usage("unknown option '\(argument)'")
            }
            if name == "json" {
                guard inline == nil else { throw usage("option '--json' takes no value") }
                json = true
                continue
            }
            guard let option = command.option(named: name) else { throw usage("unknown option '--\(name)'") }
            guard !flags.contains(name), values[name] == nil else { throw usage("option '--\(name)' given twice") }
            guard let placeholder = option.value else {
                guard inline == nil else { throw usage("option '--\(name)' takes no value") }
                flags.insert(name)
                continue
            }
            if let inline {
                values[name] = inline
            } else if index < arguments.count {
                values[name] = arguments[index]
                index += 1
            } else {
                throw usage("option '--\(name)' needs a value (\(placeholder))")
            }
        }
        if operands.count < command.operandCount.lowerBound {
            throw usage(command.operandCount.lowerBound == 1 ? "missing \(command.operands.trimmingBrackets)"
                                                                 : "missing operands")
        }
        if operands.count > command.operandCount.upperBound {
            throw usage("unexpected argument '\(operands[command.operandCount.upperBound])'")
        }
        for (first, second) in command.exclusive where (flags.contains(first) || values[first] != nil)
            && (flags.contains(second) || values[second] != nil) {
            throw usage("options '--\(first)' and '--\(second)' cannot be used together")
        }
        if command.takesCommand && trailing.isEmpty {
            throw usage("missing COMMAND after --")
        }
        return Invocation(command: command, json: json, netns: netns, flags: flags, values: values,
                          operands: operands, trailing: trailing)
    }
}

extension String {
    /// "NAME..." → "NAME", for "missing NAME".
    var trimmingBrackets: String {
        String(filter { !"[].".contains($0) })
    }
}
