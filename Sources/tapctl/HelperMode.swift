import TapCore

/// Privileged-helper mode (tapctl setuid root, or with the file capability
/// cap_net_admin, run by a user who has neither): before a command runs, the
/// devices and bridges it names must be allowed to the real user by
/// /etc/tapctl/acl, existing devices must be the user's own (CAP_NET_ADMIN
/// would let the kernel skip that check), and what it creates is the user's.
func authorize(_ invocation: Invocation) throws(Failure) {
    let command = invocation.command.name
    let (uid, groups) = PrivilegedHelper.caller
    var acl: AccessList?
    func denied(_ subject: String?, _ why: String) -> Failure {
        Failure(.accessDenied(why), command: command, subject: subject)
    }
    func allowed(_ object: AccessList.Object, _ name: String) throws(Failure) {
        // Read when a rule is needed: listing needs none, so no file is no obstacle there.
        let rules: AccessList
        if let loaded = acl {
            rules = loaded
        } else {
            rules = try attempt(command, nil) { () throws(TapError) in try AccessList.load() }
            acl = rules
        }
        guard rules.allows(object, name, user: uid, groups: groups) else {
            throw denied(name, "\(AccessList.path) does not allow uid \(uid) this \(object.rawValue)")
        }
    }
    func own(_ text: String) throws(Failure) {
        let name = try interfaceName(text, command: command)
        try allowed(.device, name.value)
        let link = try attempt(command, name.value) { () throws(TapError) in try TapControl().link(name) }
        let mine = (link.owner.map { $0 == uid } ?? true) && (link.group.map { groups.contains($0) } ?? true)
        guard mine else {
            throw denied(name.value, "it belongs to " + (link.owner.map { "uid \($0)" } ?? "group \(link.group ?? 0)")
                         + ", not uid \(uid)")
        }
    }
    func creates(_ template: String) throws(Failure) {
        try allowed(.device, try interfaceName(template, command: command, allowTemplate: true).value)
        if invocation.has("no-owner") { throw denied(nil, "in privileged-helper mode a new device always has an owner: you") }
        if let user = invocation.values["user"],
           (try? Accounts.userID(user)) != uid { throw denied(nil, "in privileged-helper mode only you (uid \(uid)) can own what tapctl makes") }
        if let group = invocation.values["group"],
           (try? Accounts.groupID(group)).map(groups.contains) != true { throw denied(nil, "you are not in group \(group)") }
    }
    if let bridge = invocation.values["bridge"] { try allowed(.bridge, bridge) }
    let operand = invocation.operands.first
    switch command {
    case "create":
        try creates(operand ?? "")
    case "exec", "send":
        if invocation.has("create") { try creates(operand ?? "") } else { try own(operand ?? "") }
    case "delete":
        if invocation.has("all") || invocation.values["match"] != nil {
            throw denied(nil, "in privileged-helper mode, name the devices to delete")
        }
        for name in invocation.operands { try own(name) }
    case "set", "offload", "vnet-hdr-size":
        if invocation.values["fd"] == nil, let operand { try own(operand) }
    case "probe":
        if invocation.values["fd"] != nil {
            break
        } else if let operand {
            try own(operand)
        } else {
            try allowed(.device, "tapctl%d")  // the throwaway device it makes
        }
    case "bridge-helper":
        try allowed(.bridge, try helperBridge(invocation))
        try allowed(.device, "tap%d")
    default:
        break  // list, show, ifname, sndbuf and queue (on a held descriptor), help
    }
}
