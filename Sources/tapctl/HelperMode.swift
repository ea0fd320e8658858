import TapCore
import TapDataPath

// Privileged-helper mode (tapctl setuid root, or with the file capability
// cap_net_admin, run by a user who has neither). The rules are the core's
// (`HelperPolicy`): it checks names as the kernel resolves them, lets the
// kernel's owner check decide who attaches, and changes only devices it holds
// a queue of. The command line adds what only it knows.

/// The access list, read once, when the first command that needs it runs.
private let accessPolicy = Result { () throws(TapError) -> HelperPolicy in try HelperPolicy.load(from: accessListPath) }

extension Invocation {
    /// The core, bound by the access list in privileged-helper mode.
    func control() throws(Failure) -> TapControl {
        guard PrivilegedHelper.isActive() else { return TapControl() }
        guard needsAccessList else { return TapControl(helperMode: true) }
        return TapControl(policy: try attempt(command.name, nil) { () throws(TapError) in try accessPolicy.get() })
    }

    /// Reading, and work on a descriptor the user holds, needs no rule: no
    /// file is no obstacle there (`CommandSpec.accessList`).
    private var needsAccessList: Bool {
        switch command.accessList {
        case .always: return true
        case .never: return false
        case .unlessDescriptor: return values[.fd] == nil
        }
    }

    /// `exec` and `send` become --user/--group with setgroups, setgid and
    /// setuid, which need capabilities the helper does not keep.
    func refuseIdentityInHelperMode() throws(Failure) {
        guard PrivilegedHelper.isActive(), let option = [Option.user, .group].first(where: { values[$0] != nil }) else { return }
        throw .operation(command: command.name, subject: nil,
                         message: "in privileged-helper mode COMMAND runs as you; --\(option.rawValue) would need privileges the helper does not keep",
                         status: .permission)
    }
}
