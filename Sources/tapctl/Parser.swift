/// Hand-rolled GNU-style parsing against the command table: global options, a
/// command word, then options and operands in any order until "--".
enum Parser {
    enum Result {
        case help(CommandSpec?)
        case version
        case run(Invocation)
        /// `--batch FILE`: the lines of FILE, run by one process.
        case batch(path: String, options: GlobalOptions)
    }

    /// The options before the command word.
    struct GlobalOptions {
        var json = false
        var netns: String?
        var batch: String?
        var force = false
    }

    /// `inBatch`: a line of a batch file, where the options that change the
    /// whole process belong on the command line instead.
    static func parse(_ arguments: [String], inBatch: Bool = false) throws(Failure) -> Result {
        var options = GlobalOptions()
        var index = 0
        func value(_ name: String, _ placeholder: String) throws(Failure) -> String {
            let argument = arguments[index - 1]
            let text: String
            if argument.hasPrefix("--\(name)=") {
                text = String(argument.dropFirst(name.count + 3))
            } else {
                guard index < arguments.count else {
                    throw .usage(command: nil, message: "option '--\(name)' needs a value (\(placeholder))")
                }
                text = arguments[index]
                index += 1
            }
            guard !text.isEmpty else { throw .usage(command: nil, message: "option '--\(name)' needs a value (\(placeholder))") }
            return text
        }
        while index < arguments.count, arguments[index].hasPrefix("-") {
            let argument = arguments[index]
            index += 1
            let name = argument.hasPrefix("--") ? String(argument.dropFirst(2).prefix { $0 != "=" }) : argument
            if inBatch && ["netns", "-n", "batch", "force"].contains(name) {
                throw .usage(command: nil, message: "option '\(argument)' belongs on tapctl's command line, before --batch")
            }
            switch name {
            case "help", "-h": return .help(nil)
            case "version": return .version
            case "json", "-j":
                guard !argument.contains("=") else { throw .usage(command: nil, message: "option '\(argument)': --json takes no value") }
                options.json = true
            case "force": options.force = true
            case "netns", "-n":
                guard options.netns == nil else { throw .usage(command: nil, message: "option '--netns' given twice") }
                options.netns = try value("netns", "NAME|PATH")
            case "batch":
                guard options.batch == nil else { throw .usage(command: nil, message: "option '--batch' given twice") }
                options.batch = try value("batch", "FILE")
            default: throw .usage(command: nil, message: "unknown option '\(argument)'")
            }
        }
        if let path = options.batch {
            if index < arguments.count {
                throw .usage(command: nil, message: "unexpected argument '\(arguments[index])' after --batch FILE")
            }
            return .batch(path: path, options: options)
        }
        if options.force { throw .usage(command: nil, message: "option '--force' goes with --batch") }
        let json = options.json
        let netns = options.netns
        guard index < arguments.count else { throw .usage(command: nil, message: "no command given") }
        let word = arguments[index]
        let rest = Array(arguments[(index + 1)...])
        if word == "help" {
            guard let topic = rest.first, topic != "--help", topic != "-h" else { return .help(nil) }
            guard rest.count == 1 else { throw .usage(command: "help", message: "unexpected argument '\(rest[1])'") }
            guard let command = command(named: topic) else {
                throw .usage(command: "help", message: "unknown command '\(topic)'")
            }
            return .help(command)
        }
        guard let command = command(named: word) else {
            throw .usage(command: nil, message: "unknown command '\(word)'")
        }
        if rest.prefix(while: { $0 != "--" }).contains(where: { $0 == "--help" || $0 == "-h" }) { return .help(command) }
        var invocation = try parseCommand(command, rest, json: json, netns: netns)
        invocation.inBatch = inBatch
        return .run(invocation)
    }

    private static func parseCommand(_ command: CommandSpec, _ arguments: [String], json: Bool,
                                     netns: String?) throws(Failure) -> Invocation {
        func usage(_ message: String) -> Failure { .usage(command: command.name, message: message) }
        var json = json
        var flags: Set<Option> = []
        var values: [Option: String] = [:]
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
                name = option.name.rawValue
            } else {
                throw usage("unknown option '\(argument)'")
            }
            if name == "json" {
                guard inline == nil else { throw usage("option '\(argument)': --json takes no value") }
                json = true
                continue
            }
            guard let option = command.option(named: name) else { throw usage("unknown option '--\(name)'") }
            let key = option.name
            guard !flags.contains(key), values[key] == nil else { throw usage("option '--\(name)' given twice") }
            guard let placeholder = option.value else {
                guard inline == nil else { throw usage("option '--\(name)' takes no value") }
                flags.insert(key)
                continue
            }
            if let inline {
                values[key] = inline
            } else if index < arguments.count {
                values[key] = arguments[index]
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
            throw usage("options '--\(first.rawValue)' and '--\(second.rawValue)' cannot be used together")
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
