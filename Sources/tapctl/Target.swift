import TapCore
import TapDataPath

/// The TARGET of a settings command, a device NAME or `--fd N`, and the operand
/// after it when the command takes one (`value`, e.g. "LIST").
func target(_ invocation: Invocation, value: String? = nil) throws(Failure) -> (Target, String?) {
    let command = invocation.command.name
    var operands = invocation.operands[...]
    let target: Target
    if invocation.values[.fd] != nil {
        if operands.count > (value == nil ? 0 : 1) {
            throw .usage(command: command, message: "give a device NAME or --fd N, not both")
        }
        target = .descriptor(try descriptorNumber(invocation))
    } else {
        guard let name = operands.popFirst() else { throw .usage(command: command, message: "missing NAME or --fd N") }
        target = .name(try interfaceName(name, command: command))
    }
    guard let value else { return (target, nil) }
    guard let operand = operands.first else { throw .usage(command: command, message: "missing \(value)") }
    return (target, operand)
}

extension Target {
    /// How an error message names the target.
    var subject: String {
        switch self {
        case .name(let name): return name.value
        case .descriptor(let fd): return "fd \(fd)"
        }
    }
}

let fdOption = OptionSpec(.fd, value: "N", "act on inherited descriptor N instead of a device NAME")

extension Invocation {
    /// Runs `body` on the target's queue, giving up privileges once the queue
    /// is open: a temporary one on a device NAME (TapControl.withTarget), or
    /// the inherited descriptor, identified from the descriptor itself
    /// (TapControl.withDescriptor). Errors name the target.
    func onTarget<T>(_ target: Target,
                     _ body: (TapControl, TunDescriptor, DescriptorDevice) throws(TapError) -> T) throws(Failure) -> T {
        let control = try self.control()
        return try attempt(command.name, target.subject) { () throws(TapError) in
            switch target {
            case .name:
                return try control.withTarget(target, opened: drop) { (tun, link) throws(TapError) in
                    // Attached by name in this namespace: the name is this device.
                    try body(control, tun, DescriptorDevice(name: link.name, flags: try tun.device().flags, namespace: .current))
                }
            case .descriptor(let fd):
                return try control.withDescriptor(fd, opened: drop) { (tun, device) throws(TapError) in
                    try body(control, tun, device)
                }
            }
        }
    }
}
