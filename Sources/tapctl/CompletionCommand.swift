import TapCore
import TapDataPath

let completionCommand = CommandSpec(
    name: "completion",
    operands: "bash",
    operandCount: 1...1,
    summary: "print a bash completion script for tapctl",
    details: """
        The script is made from tapctl's own command table: commands, their
        options, the values of options where they are few (offload names,
        header sizes, attach and detach), users and groups for --user and
        --group, bridges for --bridge, and the tun/tap devices of the current
        network namespace (from tapctl list) for commands that take a NAME.
        make install puts it where bash-completion finds it:
            tapctl completion bash > /usr/share/bash-completion/completions/tapctl
        """,
    options: commonOptions,
    exclusive: [],
    run: runCompletion,
    jsonKeys: []
)

private func runCompletion(_ invocation: Invocation) throws(Failure) {
    guard invocation.operands[0] == "bash" else {
        throw .usage(command: invocation.command.name, message: "'\(invocation.operands[0])' is not bash, the one shell supported")
    }
    try invocation.dropPrivileges()
    emit(bashCompletion(commands))
}

/// The words that complete an option's value, by its placeholder: a bash
/// command line whose output is the candidates, or nil for none (a number).
private func valueWords(_ placeholder: String) -> String? {
    switch placeholder {
    case "USER": return "compgen -u"
    case "GROUP": return "compgen -g"
    case "LIST": return "_tapctl_list " + (Offloads.names.map(\.1) + ["none"]).joined(separator: " ")
    case "BR", "BRIDGE": return "_tapctl_bridges"
    case "PATH", "FILE": return "_tapctl_files"
    case "SIZE": return "echo 10 12 20 24"
    case "BYTES": return "echo unlimited"
    case "ADDR|random": return "echo random"
    case "GLOB": return "_tapctl_devices"
    default: return nil
    }
}

/// What a command's operands complete to, from its synopsis' operands.
private func operandWords(_ command: CommandSpec) -> [String] {
    command.operands.split(separator: " ").map { part in
        if part.contains("NAME") { return "_tapctl_devices" }
        if part.contains("FILE") { return "_tapctl_files" }
        if part == "attach|detach" { return "echo attach detach" }
        if part == "bash" { return "echo bash" }
        if let placeholder = valueWords(String(part.split(separator: "|")[0])) { return placeholder }
        return ""
    }.filter { !$0.isEmpty }
}

func bashCompletion(_ commands: [CommandSpec]) -> String {
    let globals = "--json -j --netns -n --batch --force --help -h --version"
    var perCommand: [String] = []
    for command in commands {
        let options = (command.options.map { "--" + $0.name.rawValue }).joined(separator: " ")
        let valued = command.options.filter { $0.value != nil }.map { "--" + $0.name.rawValue }.joined(separator: " ")
        let operands = operandWords(command).joined(separator: "|")
        perCommand.append("        \(command.name)) options='\(options)'; valued='\(valued)'; operands='\(operands)' ;;")
    }
    var values: [String] = []
    var seen: Set<Option> = []
    for option in commands.flatMap(\.options) where !seen.contains(option.name) {
        seen.insert(option.name)
        guard let placeholder = option.value, let words = valueWords(placeholder) else { continue }
        values.append("                --\(option.name.rawValue)) candidates=$(\(words)) ;;")
    }
    return """
        # bash completion for tapctl, made by `tapctl completion bash` from its command table.
        _tapctl_devices() { tapctl list 2>/dev/null | awk 'NR > 1 { print $1 }'; }
        _tapctl_bridges() { local d; for d in /sys/class/net/*/bridge; do [[ -e $d ]] && d=${d%/bridge} && echo "${d##*/}"; done; }
        _tapctl_files() { compgen -f -- "$cur"; }
        # A comma-separated list: complete the word after the last comma.
        _tapctl_list() { local prefix=; [[ $cur == *,* ]] && prefix=${cur%,*},; printf "$prefix%s\\n" "$@"; }

        _tapctl() {
            local cur prev words cword
            _init_completion -s || return
            local i command= operand=0
            for ((i = 1; i < cword; i++)); do
                case ${words[i]} in
                    --netns|-n|--batch) ((i++)) ;;
                    -*) ;;
                    *) command=${words[i]}; break ;;
                esac
            done
            if [[ -z $command ]]; then
                case $prev in
                    --netns|-n) COMPREPLY=($(compgen -W "$(ls /run/netns 2>/dev/null)" -- "$cur")); return ;;
                    --batch) COMPREPLY=($(compgen -f -- "$cur")); return ;;
                esac
                COMPREPLY=($(compgen -W "\(commands.map(\.name).joined(separator: " ")) help \(globals)" -- "$cur"))
                return
            fi
            local options= valued= operands=
            case $command in
        \(perCommand.joined(separator: "\n"))
                help) options=; valued=; operands='echo \(commands.map(\.name).joined(separator: " "))' ;;
                *) return ;;
            esac
            if [[ " $valued " == *" $prev "* ]]; then
                local candidates=
                case $prev in
        \(values.joined(separator: "\n"))
                esac
                COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
                return
            fi
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "$options" -- "$cur"))
                return
            fi
            # Which operand this is: the words after the command that are neither options nor their values.
            for ((i = i + 1; i < cword; i++)); do
                if [[ " $valued " == *" ${words[i]} "* ]]; then ((i++)); elif [[ ${words[i]} != -* ]]; then ((operand++)); fi
            done
            local source
            IFS='|' read -r -a source <<<"$operands"
            (( operand >= ${#source[@]} )) && operand=$((${#source[@]} - 1))
            (( operand < 0 )) && return
            COMPREPLY=($(compgen -W "$(${source[operand]})" -- "$cur"))
        }
        complete -F _tapctl tapctl
        """
}
