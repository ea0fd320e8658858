import TapCore
import TapDataPath

// Command-line values shared by several commands, checked before any system call.

func offloadList(_ text: String, command: String) throws(Failure) -> Offloads {
    do {
        return try Offloads(parsing: text)
    } catch {
        throw .usage(command: command, message: error.message)
    }
}

func vnetHeaderSize(_ text: String, command: String) throws(Failure) -> Int {
    let size = decimal(text)
    try checked(command) { () throws(TapError) in try SettingLimits.checkVnetHeaderSize(size, shown: text) }
    return size ?? 0
}

/// The kernel's default send buffer, INT_MAX, which tapctl calls unlimited.
let unlimitedSendBuffer = SettingLimits.sendBuffer.upperBound

func sendBuffer(_ text: String, command: String) throws(Failure) -> Int {
    let bytes = text == "unlimited" ? unlimitedSendBuffer : decimal(text)
    try checked(command) { () throws(TapError) in try SettingLimits.checkSendBuffer(bytes, shown: text) }
    return bytes ?? 0
}

func queueCount(_ text: String, command: String) throws(Failure) -> Int {
    let count = decimal(text)
    try checked(command) { () throws(TapError) in try SettingLimits.checkQueues(count, shown: text) }
    return count ?? 0
}

/// The library's check of a value, as a usage error that quotes the word typed.
private func checked(_ command: String, _ check: () throws(TapError) -> Void) throws(Failure) {
    do {
        try check()
    } catch {
        throw .usage(command: command, message: error.message)
    }
}

func sendBufferText(_ bytes: Int) -> String {
    bytes == unlimitedSendBuffer ? "unlimited" : String(bytes)
}

/// Decimal digits only: no sign, no space, no base prefix.
func decimal(_ text: String) -> Int? {
    guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
    return Int(text)
}

/// A descriptor number from `--fd`, or `option`.
func descriptorNumber(_ invocation: Invocation, option: Option = .fd) throws(Failure) -> CInt {
    guard let text = invocation.values[option] else {
        throw .usage(command: invocation.command.name, message: "missing --\(option) N")
    }
    guard let value = decimal(text), let fd = CInt(exactly: value) else {
        throw .usage(command: invocation.command.name, message: "fd '\(text)' is not a descriptor number")
    }
    return fd
}
