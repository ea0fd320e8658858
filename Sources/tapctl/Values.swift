import TapCore

// Command-line values shared by several commands, checked before any system call.

func offloadList(_ text: String, command: String) throws(Failure) -> Offloads {
    do {
        return try Offloads(parsing: text)
    } catch {
        throw .usage(command: command, message: error.description)
    }
}

func vnetHeaderSize(_ text: String, command: String) throws(Failure) -> Int {
    guard let size = decimal(text), [10, 12, 20, 24].contains(size) else {
        throw .usage(command: command, message: "size '\(text)' is not 10, 12, 20 or 24")
    }
    return size
}

/// The kernel's default send buffer, INT_MAX, which tapctl calls unlimited.
let unlimitedSendBuffer = Int(Int32.max)

func sendBuffer(_ text: String, command: String) throws(Failure) -> Int {
    if text == "unlimited" { return unlimitedSendBuffer }
    guard let bytes = decimal(text), (1...unlimitedSendBuffer).contains(bytes) else {
        throw .usage(command: command,
                     message: "'\(text)' is not a byte count from 1 to \(unlimitedSendBuffer), or unlimited")
    }
    return bytes
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
func descriptorNumber(_ invocation: Invocation, option: String = "fd") throws(Failure) -> CInt {
    guard let text = invocation.values[option] else {
        throw .usage(command: invocation.command.name, message: "missing --\(option) N")
    }
    guard let value = decimal(text), let fd = CInt(exactly: value) else {
        throw .usage(command: invocation.command.name, message: "fd '\(text)' is not a descriptor number")
    }
    return fd
}
