import Glibc
import SystemPackage
import TapSystem
import TapCore
import TapDataPath

/// `tapctl --batch FILE`: one command a line, run by one process, after
/// `ip -batch`. The first failing line stops the run unless `--force`.
func runBatch(path: String, options: Parser.GlobalOptions) -> Int32 {
    let text: String
    do {
        text = try path == "-" ? TextFile.read(descriptor: STDIN_FILENO) : TextFile.read(path)
    } catch {
        report(.operation(command: "batch", subject: nil, message: "cannot read \(path): \(error)", status: .failure), json: options.json)
        return ExitStatus.failure.rawValue
    }
    do {
        if let netns = options.netns {
            try attempt("batch", nil) { () throws(TapError) in try NetworkNamespace.enter(netns) }
        }
    } catch {
        report(error, json: options.json)
        return error.status.rawValue
    }
    // Split on the byte, not by Character: grapheme breaking is slow.
    var lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { Substring($0) }
    if lines.last?.isEmpty == true { lines.removeLast() }
    var failed = 0
    var firstStatus = ExitStatus.success
    for (offset, line) in lines.enumerated() {
        do {
            let words = try batchWords(line)
            guard !words.isEmpty else { continue }
            try runLine((options.json ? ["--json"] : []) + words)
        } catch {
            let number = offset + 1
            // Under --json the failure is one object on standard output, with its line, and nothing else.
            if case .reported = error {
                // The command printed its own lines.
            } else if case .object(let members) = error.json, options.json {
                emit(.object([("line", .int(Int64(number)))] + members))
            } else {
                write("tapctl: line \(number): " + error.line.dropFirst("tapctl: ".count) + "\n", to: STDERR_FILENO)
            }
            if failed == 0 { firstStatus = error.status }
            failed += 1
            if !options.force { return error.status.rawValue }
        }
    }
    do {
        try attempt("batch", nil) { () throws(TapError) in try Capabilities.dropAll() }
    } catch {
        report(error, json: options.json)
        return error.status.rawValue
    }
    guard failed > 0 else { return ExitStatus.success.rawValue }
    if !options.json { write("tapctl: batch: \(failed) of \(lines.count) lines failed\n", to: STDERR_FILENO) }
    return failed == 1 ? firstStatus.rawValue : ExitStatus.failure.rawValue
}

private func batchWords(_ line: Substring) throws(Failure) -> [String] {
    do {
        return try BatchWords.split(line)
    } catch {
        throw .usage(command: nil, message: error.description)
    }
}

/// One line: what changes the whole process has no place in a batch.
private func runLine(_ words: [String]) throws(Failure) {
    switch try Parser.parse(words, inBatch: true) {
    case .help(let command):
        emit(command.map(commandHelp) ?? mainHelp(commands))
    case .version:
        emit("tapctl \(version)")
    case .batch:
        throw .usage(command: nil, message: "--batch cannot be nested")
    case .run(let invocation):
        let name = invocation.command.name
        switch invocation.command.batch {
        case .allowed:
            break
        case .refused(let why):
            throw .usage(command: name, message: why, syntax: false)
        case .refusedWith(let options):
            if let option = options.first(where: { invocation.has($0) || invocation.values[$0] != nil }) {
                throw .usage(command: name, message: "--\(option.rawValue) changes the whole process, so it cannot be used in a batch",
                             syntax: false)
            }
        }
        try perform(invocation)
    }
}
