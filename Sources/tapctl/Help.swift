let version = "0.1.0"

/// `tapctl --help`: the commands and the exit statuses.
func mainHelp(_ commands: [CommandSpec]) -> String {
    let width = commands.map(\.name.count).max() ?? 0
    let list = commands.map { "  " + $0.name + String(repeating: " ", count: width - $0.name.count + 2) + $0.summary }
    return """
        Usage: tapctl [--json] [--netns NAME|PATH] COMMAND [ARGUMENT...]
               tapctl [--json] [--netns NAME|PATH] [--force] --batch FILE
               tapctl help COMMAND | --help | --version

        Administer TUN/TAP devices for virtual machines.

        Commands:
        \(list.joined(separator: "\n"))
          help\(String(repeating: " ", count: width - 2))show a command's options

        Options before the command:
          -j, --json               print JSON for programs instead of text for people
          -n, --netns NAME|PATH    act in network namespace NAME (/run/netns/NAME)
                                   or the namespace file PATH, like ip -n
          --batch FILE             run one command a line from FILE (- for standard
                                   input) in one process; the first failing line
                                   stops the run unless --force
          --force                  with --batch: go on after a failing line
          -h, --help               show this help and exit
          --version                print the version and exit

        Exit status: 0 success, 1 failure, 2 usage error, 3 permission denied,
        4 not found (device, descriptor, namespace), 5 already exists, 6 in use,
        7 apply --check found changes to make; exec: 126 COMMAND cannot be run,
        127 COMMAND not found.
        See tapctl(8).
        """
}

/// `tapctl COMMAND --help`: synopsis, summary, options and details.
func commandHelp(_ command: CommandSpec) -> String {
    let labels = command.options.map { option in
        (option.short.map { "-\($0), " } ?? "") + option.display
    }
    let width = labels.map(\.count).max() ?? 0
    let lines = zip(labels, command.options).map { label, option in
        "  " + label + String(repeating: " ", count: width - label.count + 2) + option.help
    }
    return """
        Usage: \(command.synopsis)

        \(command.summary.prefix(1).uppercased() + command.summary.dropFirst()).

        Options:
        \(lines.joined(separator: "\n"))

        \(command.details)
        """
}
