import TapCore
import TapDataPath

/// The `ip link set` options `create` and `set` share.
let linkOptions = [
    OptionSpec(.up, "bring the device up"),
    OptionSpec(.mtu, value: "N", "set the MTU (68 to 65521 for a tap, 65535 for a tun)"),
    OptionSpec(.mac, value: "ADDR|random", "set the MAC address, or a random locally administered one"),
    OptionSpec(.bridge, value: "BR", "add the device to bridge BR"),
    OptionSpec(.txqueuelen, value: "N", "set the transmit queue length"),
]

/// The settings an invocation asks for, checked for form (the device and the
/// bridge are checked by the core before any change).
func linkSettings(_ invocation: Invocation) throws(Failure) -> LinkSettings {
    let command = invocation.command.name
    var settings = LinkSettings()
    if invocation.has(.up) { settings.up = true }
    if invocation.has(.down) { settings.up = false }
    if let text = invocation.values[.mtu] {
        guard let mtu = decimal(text).flatMap(UInt32.init(exactly:)) else {
            throw .usage(command: command, message: "MTU '\(text)' is not a number")
        }
        settings.mtu = mtu
    }
    if let text = invocation.values[.mac] {
        do {
            settings.mac = text == "random" ? MACAddress.random() : try MACAddress(parsing: text)
        } catch {
            throw .usage(command: command, message: error.message)
        }
    }
    if let bridge = invocation.values[.bridge] {
        settings.bridge = .attach(try interfaceName(bridge, command: command, bridge: true).value)
    }
    if invocation.has(.nobridge) { settings.bridge = .detach }
    if let text = invocation.values[.txqueuelen] {
        guard let length = decimal(text).flatMap(UInt32.init(exactly:)) else {
            throw .usage(command: command, message: "txqueuelen '\(text)' is not a number from 0 to 4294967295")
        }
        settings.txQueueLength = length
    }
    return settings
}
