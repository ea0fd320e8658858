import XCTest
@testable import tapctl

final class ParserTests: XCTestCase {
    private func invocation(_ arguments: String...) throws -> Invocation {
        guard case .run(let invocation) = try Parser.parse(arguments) else {
            throw XCTSkip("not a run")
        }
        return invocation
    }

    private func usageError(_ arguments: [String]) -> Failure? {
        do {
            _ = try Parser.parse(arguments)
            return nil
        } catch {
            return error
        }
    }

    func testEveryCommandAndOption() throws {
        let create = try invocation("create", "vm%d", "--tun", "--multiqueue", "--vnet-hdr", "--pi",
                                    "--user", "alice", "--group=kvm", "--exist-ok")
        XCTAssertEqual(create.command.name, "create")
        XCTAssertEqual(create.operands, ["vm%d"])
        XCTAssertEqual(create.flags, [.tun, .multiqueue, .vnetHdr, .pi, .existOk])
        XCTAssertEqual(create.values, [.user: "alice", .group: "kvm"])
        XCTAssertFalse(create.json)
        XCTAssertEqual(try invocation("create", "--no-owner", "tap0").flags, [.noOwner])

        let delete = try invocation("delete", "a", "b", "--missing-ok", "c")
        XCTAssertEqual(delete.operands, ["a", "b", "c"])
        XCTAssertTrue(delete.has(.missingOk))

        XCTAssertEqual(try invocation("list").command.name, "list")
        XCTAssertEqual(try invocation("show", "tap0").operands, ["tap0"])
        XCTAssertEqual(try invocation("ifname", "--fd", "5").values, [.fd: "5"])
        XCTAssertEqual(try invocation("ifname", "--fd=-1").values, [.fd: "-1"], "values are taken verbatim")
    }

    func testJSONBeforeOrAfterTheCommand() throws {
        XCTAssertTrue(try invocation("--json", "list").json)
        XCTAssertTrue(try invocation("-j", "list").json)
        XCTAssertTrue(try invocation("list", "--json").json)
        XCTAssertTrue(try invocation("show", "-j", "tap0").json)
    }

    func testDoubleDashEndsOptions() throws {
        let delete = try invocation("delete", "--", "--odd", "-x")
        XCTAssertEqual(delete.operands, ["--odd", "-x"])
    }

    func testHelpAndVersion() throws {
        for arguments in [["--help"], ["-h"], ["help"], []] as [[String]] where !arguments.isEmpty {
            guard case .help(nil) = try Parser.parse(arguments) else { return XCTFail("\(arguments)") }
        }
        for command in commands {
            for arguments in [["help", command.name], [command.name, "--help"], [command.name, "-h"],
                              [command.name, "--bogus", "--help"]] {
                guard case .help(let topic?) = try Parser.parse(arguments) else {
                    return XCTFail("\(arguments)")
                }
                XCTAssertEqual(topic.name, command.name)
            }
        }
        guard case .version = try Parser.parse(["--version"]) else { return XCTFail() }
    }

    func testUsageErrorsNameTheBadWord() {
        let cases: [([String], String)] = [
            ([], "tapctl: no command given (see 'tapctl --help')"),
            (["frobnicate"], "tapctl: unknown command 'frobnicate' (see 'tapctl --help')"),
            (["--bogus", "list"], "tapctl: unknown option '--bogus' (see 'tapctl --help')"),
            (["help", "nope"], "tapctl: help: unknown command 'nope' (see 'tapctl --help')"),
            (["help", "list", "extra"], "tapctl: help: unexpected argument 'extra' (see 'tapctl --help')"),
            (["create"], "tapctl: create: missing NAME|TEMPLATE (see 'tapctl create --help')"),
            (["create", "a", "b"], "tapctl: create: unexpected argument 'b' (see 'tapctl create --help')"),
            (["create", "a", "--multi"], "tapctl: create: unknown option '--multi' (see 'tapctl create --help')"),
            (["create", "a", "-x"], "tapctl: create: unknown option '-x' (see 'tapctl create --help')"),
            (["create", "a", "--user"], "tapctl: create: option '--user' needs a value (USER) (see 'tapctl create --help')"),
            (["create", "a", "--tun=yes"], "tapctl: create: option '--tun' takes no value (see 'tapctl create --help')"),
            (["create", "a", "--tun", "--tun"], "tapctl: create: option '--tun' given twice (see 'tapctl create --help')"),
            (["create", "a", "--user", "x", "--user=y"], "tapctl: create: option '--user' given twice (see 'tapctl create --help')"),
            (["create", "a", "--user", "x", "--no-owner"],
             "tapctl: create: options '--user' and '--no-owner' cannot be used together (see 'tapctl create --help')"),
            (["create", "a", "--json=1"], "tapctl: create: option '--json=1': --json takes no value (see 'tapctl create --help')"),
            (["delete", "--match"], "tapctl: delete: option '--match' needs a value (GLOB) (see 'tapctl delete --help')"),
            (["delete", "a", "--force"], "tapctl: delete: unknown option '--force' (see 'tapctl delete --help')"),
            (["list", "tap0"], "tapctl: list: unexpected argument 'tap0' (see 'tapctl list --help')"),
            (["list", "--all"], "tapctl: list: unknown option '--all' (see 'tapctl list --help')"),
            (["show"], "tapctl: show: missing NAME (see 'tapctl show --help')"),
            (["show", "a", "b"], "tapctl: show: unexpected argument 'b' (see 'tapctl show --help')"),
            (["ifname", "5"], "tapctl: ifname: unexpected argument '5' (see 'tapctl ifname --help')"),
            (["ifname", "--fd"], "tapctl: ifname: option '--fd' needs a value (N) (see 'tapctl ifname --help')"),
        ]
        for (arguments, line) in cases {
            let failure = usageError(arguments)
            XCTAssertEqual(failure?.line, line, "\(arguments)")
            XCTAssertEqual(failure?.status, .usage, "\(arguments)")
        }
    }

    func testDescriptorNumbers() throws {
        XCTAssertEqual(try descriptorNumber(try invocation("ifname", "--fd", "0")), 0)
        XCTAssertEqual(try descriptorNumber(try invocation("ifname", "--fd", "1023")), 1023)
        for bad in ["-1", "x", "", "3x", "+3", "99999999999", " 3"] {
            XCTAssertThrowsError(try descriptorNumber(try invocation("ifname", "--fd", bad)), bad) {
                XCTAssertEqual(($0 as? Failure)?.line,
                               "tapctl: ifname: fd '\(bad)' is not a descriptor number (see 'tapctl ifname --help')")
            }
        }
        XCTAssertThrowsError(try descriptorNumber(try invocation("ifname"))) {
            XCTAssertEqual(($0 as? Failure)?.line, "tapctl: ifname: missing --fd N (see 'tapctl ifname --help')")
        }
    }

    func testRunReturnsDocumentedStatusesWithoutTouchingTheKernel() {
        XCTAssertEqual(tapctl(["--version"]), 0)
        XCTAssertEqual(tapctl(["bogus"]), 2)
        XCTAssertEqual(tapctl(["create", "a/b"]), 2)
        XCTAssertEqual(tapctl(["create", "x", "--user", "no-such-user-tapctl"]), 2)
        XCTAssertEqual(tapctl(["create", "x", "--group", "no-such-group-tapctl"]), 2)
        XCTAssertEqual(tapctl(["delete", "tap%d"]), 2)
        XCTAssertEqual(tapctl(["show", ".."]), 2)
    }
}

final class SettingsParserTests: XCTestCase {
    private func line(_ arguments: String...) -> String? {
        do {
            guard case .run(let invocation) = try Parser.parse(arguments) else { return nil }
            try invocation.command.run(invocation)
            return nil
        } catch {
            return error.line
        }
    }

    func testTargetsAreANameOrAnFdNeverBoth() {
        XCTAssertEqual(line("offload"), "tapctl: offload: missing NAME or --fd N (see 'tapctl offload --help')")
        XCTAssertEqual(line("offload", "tap0"), "tapctl: offload: missing LIST (see 'tapctl offload --help')")
        XCTAssertEqual(line("offload", "--fd", "3"), "tapctl: offload: missing LIST (see 'tapctl offload --help')")
        XCTAssertEqual(line("offload", "tap0", "csum", "--fd", "3"),
                       "tapctl: offload: give a device NAME or --fd N, not both (see 'tapctl offload --help')")
        XCTAssertEqual(line("offload", "tap0", "csum", "x"), "tapctl: offload: unexpected argument 'x' (see 'tapctl offload --help')")
        XCTAssertEqual(line("offload", "a/b", "csum"), "tapctl: offload a/b: the name contains '/'")
        XCTAssertEqual(line("offload", "--fd", "x", "csum"), "tapctl: offload: fd 'x' is not a descriptor number (see 'tapctl offload --help')")
        XCTAssertEqual(line("probe", "tap0", "--fd", "3"), "tapctl: probe: give a device NAME or --fd N, not both (see 'tapctl probe --help')")
        XCTAssertEqual(line("probe", "a", "b"), "tapctl: probe: unexpected argument 'b' (see 'tapctl probe --help')")
    }

    func testValuesAreCheckedBeforeAnySystemCall() {
        XCTAssertEqual(line("offload", "tap0", "tso4"), "tapctl: offload: tso4 needs csum (see 'tapctl offload --help')")
        XCTAssertEqual(line("offload", "tap0", "csum,bogus"),
                       "tapctl: offload: unknown offload 'bogus' (known: csum, tso4, tso6, ecn, ufo, uso4, uso6, udp-tunnel, udp-tunnel-csum, none) (see 'tapctl offload --help')")
        for size in ["8", "11", "0", "x", "", "99999999999999999999"] {
            XCTAssertEqual(line("vnet-hdr-size", "tap0", size),
                           "tapctl: vnet-hdr-size: size '\(size)' is not 10, 12, 20 or 24 (see 'tapctl vnet-hdr-size --help')")
        }
        for bytes in ["0", "2147483648", "1k", "", "lots"] {
            XCTAssertEqual(line("sndbuf", "--fd", "3", bytes),
                           "tapctl: sndbuf: '\(bytes)' is not a byte count from 1 to 2147483647, or unlimited (see 'tapctl sndbuf --help')")
        }
        XCTAssertEqual(line("sndbuf", "tap0", "4096"),
                       "tapctl: sndbuf: a send buffer lasts only for the queues open when it is set, so it is set on a queue a program holds (--fd N), not on tap0 (see 'tapctl sndbuf --help')")
        XCTAssertEqual(line("sndbuf", "--fd", "3", "-5"), "tapctl: sndbuf: unknown option '-5' (see 'tapctl sndbuf --help')")
        XCTAssertEqual(line("sndbuf", "--fd", "3", "--", "-5"),
                       "tapctl: sndbuf: '-5' is not a byte count from 1 to 2147483647, or unlimited (see 'tapctl sndbuf --help')")
        XCTAssertEqual(line("queue", "--fd", "3"), "tapctl: queue: missing attach|detach (see 'tapctl queue --help')")
        XCTAssertEqual(line("queue", "enable", "--fd", "3"), "tapctl: queue: 'enable' is not attach or detach (see 'tapctl queue --help')")
        XCTAssertEqual(line("queue", "attach"), "tapctl: queue: missing --fd N (see 'tapctl queue --help')")
    }
}

final class HandoffParserTests: XCTestCase {
    func testTheCommandAfterDoubleDashIsKeptWhole() throws {
        guard case .run(let invocation) = try Parser.parse(
            ["exec", "tap0", "--queues", "4", "--", "qemu", "-netdev", "tap,fds={fds}", "--", "--help"])
        else { return XCTFail() }
        XCTAssertEqual(invocation.operands, ["tap0"])
        XCTAssertEqual(invocation.trailing, ["qemu", "-netdev", "tap,fds={fds}", "--", "--help"])
        XCTAssertEqual(invocation.values, [.queues: "4"])
        let (request, identity) = try handoffRequest(invocation)
        XCTAssertEqual(request.queues, 4)
        XCTAssertTrue(request.vnetHeader)
        XCTAssertNil(request.create)
        XCTAssertNil(identity)
    }

    func testCreateAndIdentity() throws {
        guard case .run(let invocation) = try Parser.parse(
            ["exec", "vm%d", "--create", "--tun", "--persist", "--user", "root", "--group", "0", "--", "true"])
        else { return XCTFail() }
        let (request, identity) = try handoffRequest(invocation)
        XCTAssertEqual(request.create?.mode, .tun)
        XCTAssertEqual(request.create?.owner, .user(0))
        XCTAssertEqual(request.create?.group, 0)
        XCTAssertTrue(request.persist)
        XCTAssertEqual(identity?.uid, 0)
        XCTAssertEqual(identity?.gid, 0)
    }

    func testCreateTakesLinkSettings() throws {
        guard case .run(let invocation) = try Parser.parse(
            ["exec", "vm%d", "--create", "--queues", "4", "--up", "--mtu", "9000", "--bridge", "br0", "--", "qemu"])
        else { return XCTFail() }
        let (request, _) = try handoffRequest(invocation)
        XCTAssertEqual(request.create?.link.up, true)
        XCTAssertEqual(request.create?.link.mtu, 9000)
        XCTAssertEqual(request.create?.link.bridge, .attach("br0"))
    }

    func testUsageErrors() {
        let cases: [([String], String)] = [
            (["exec", "tap0"], "tapctl: exec: missing COMMAND after -- (see 'tapctl exec --help')"),
            (["exec", "tap0", "--"], "tapctl: exec: missing COMMAND after -- (see 'tapctl exec --help')"),
            (["exec", "--", "true"], "tapctl: exec: missing NAME (see 'tapctl exec --help')"),
            (["exec", "tap0", "tap1", "--", "true"], "tapctl: exec: unexpected argument 'tap1' (see 'tapctl exec --help')"),
            (["exec", "tap%d", "--", "true"],
             "tapctl: exec tap%d: the name is a template; name an existing device"),
            (["exec", "tap0", "--persist", "--", "true"], "tapctl: exec: option '--persist' needs --create (see 'tapctl exec --help')"),
            (["exec", "tap0", "--bridge", "br0", "--", "true"], "tapctl: exec: option '--bridge' needs --create (see 'tapctl exec --help')"),
            (["exec", "tap0", "--queues", "0", "--", "true"],
             "tapctl: exec: queues '0' is not a number from 1 to 256 (see 'tapctl exec --help')"),
            (["exec", "tap0", "--queues", "257", "--", "true"],
             "tapctl: exec: queues '257' is not a number from 1 to 256 (see 'tapctl exec --help')"),
            (["exec", "tap0", "--fd-start", "2", "--", "true"],
             "tapctl: exec: fd-start '2' is not a number from 3 to 65536 (see 'tapctl exec --help')"),
            (["exec", "tap0", "--offload", "tso4", "--", "true"], "tapctl: exec: tso4 needs csum (see 'tapctl exec --help')"),
            (["exec", "tap0", "--vnet-hdr-size", "11", "--", "true"],
             "tapctl: exec: size '11' is not 10, 12, 20 or 24 (see 'tapctl exec --help')"),
            (["exec", "tap0", "--user", "no-such-user-tapctl", "--", "true"],
             "tapctl: exec: no user named 'no-such-user-tapctl'"),
            (["exec", "tap0", "--", "qemu", "vhostfds={vhostfds}"],
             "tapctl: exec: {vhostfds} needs --vhost-net (see 'tapctl exec --help')"),
            (["send", "tap0"], "tapctl: send: missing --socket PATH (see 'tapctl send --help')"),
            (["send", "tap0", "--socket", "/x", "--timeout", "0"],
             "tapctl: send: timeout '0' is not a number of seconds from 1 to 3600 (see 'tapctl send --help')"),
            (["send", "tap0", "--fd-start", "3"], "tapctl: send: unknown option '--fd-start' (see 'tapctl send --help')"),
        ]
        for (arguments, expected) in cases {
            XCTAssertEqual(line(arguments), expected, "\(arguments)")
        }
    }

    /// The checks exec and send make before opening anything.
    private func line(_ arguments: [String]) -> String? {
        do {
            guard case .run(let invocation) = try Parser.parse(arguments) else { return nil }
            if invocation.command.name == "exec" { _ = try execPlan(invocation) } else { _ = try sendPlan(invocation) }
            return nil
        } catch {
            return error.line
        }
    }

    func testSubstitution() {
        let values = ["{fds}": "3:4", "{fd}": "3", "{ifname}": "tap0"]
        XCTAssertEqual(substitute("fds={fds},id={ifname}", values), "fds=3:4,id=tap0")
        XCTAssertEqual(substitute("{fd}{fd}", values), "33")
        XCTAssertEqual(substitute("{", values), "{")
        XCTAssertEqual(substitute("{{fd}}", values), "{3}")
        XCTAssertEqual(substitute("{unknown}", values), "{unknown}")
        XCTAssertEqual(substitute("{ifname", values), "{ifname")
    }
}

final class LinkParserTests: XCTestCase {
    private func invocation(_ arguments: String...) throws -> Invocation {
        guard case .run(let invocation) = try Parser.parse(arguments) else { throw XCTSkip("not a run") }
        return invocation
    }

    private func failure(_ arguments: String...) -> String? {
        do {
            guard case .run(let invocation) = try Parser.parse(arguments) else { return nil }
            _ = try linkSettings(invocation)
            return nil
        } catch {
            return error.line
        }
    }

    func testNetnsBeforeTheCommand() throws {
        XCTAssertEqual(try invocation("--netns", "vm1", "list").netns, "vm1")
        XCTAssertEqual(try invocation("-n", "/proc/1/ns/net", "--json", "list").netns, "/proc/1/ns/net")
        XCTAssertEqual(try invocation("--netns=vm2", "show", "tap0").netns, "vm2")
        XCTAssertNil(try invocation("list").netns)
        XCTAssertEqual(failure("--netns"), "tapctl: option '--netns' needs a value (NAME|PATH) (see 'tapctl --help')")
        XCTAssertEqual(failure("--netns=", "list"), "tapctl: option '--netns' needs a value (NAME|PATH) (see 'tapctl --help')")
        XCTAssertEqual(failure("-n", "a", "-n", "b", "list"), "tapctl: option '--netns' given twice (see 'tapctl --help')")
        XCTAssertEqual(failure("list", "--netns", "a"), "tapctl: list: unknown option '--netns' (see 'tapctl list --help')")
    }

    func testLinkSettings() throws {
        let settings = try linkSettings(try invocation("create", "tap0", "--up", "--mtu", "9000", "--mac", "02:00:00:00:00:01",
                                                       "--bridge", "br0", "--txqueuelen", "500"))
        XCTAssertEqual(settings.up, true)
        XCTAssertEqual(settings.mtu, 9000)
        XCTAssertEqual(settings.mac?.description, "02:00:00:00:00:01")
        XCTAssertEqual(settings.bridge, .attach("br0"))
        XCTAssertEqual(settings.txQueueLength, 500)
        let set = try linkSettings(try invocation("set", "tap0", "--down", "--nobridge", "--mac", "random"))
        XCTAssertEqual(set.up, false)
        XCTAssertEqual(set.bridge, .detach)
        XCTAssertEqual(set.mac.map { $0.bytes[0] & 3 }, 2)
        XCTAssertTrue(try linkSettings(try invocation("create", "tap0")).isEmpty)
    }

    func testLinkUsageErrors() {
        XCTAssertEqual(failure("create", "tap0", "--mtu", "big"), "tapctl: create: MTU 'big' is not a number (see 'tapctl create --help')")
        XCTAssertEqual(failure("create", "tap0", "--mtu", "99999999999"),
                       "tapctl: create: MTU '99999999999' is not a number (see 'tapctl create --help')")
        XCTAssertEqual(failure("set", "tap0", "--txqueuelen", "-"),
                       "tapctl: set: txqueuelen '-' is not a number from 0 to 4294967295 (see 'tapctl set --help')")
        XCTAssertEqual(failure("set", "tap0", "--mac", "zz"),
                       "tapctl: set: 'zz' is not a MAC address (six hex bytes joined by ':' or '-') (see 'tapctl set --help')")
        XCTAssertEqual(failure("set", "tap0", "--bridge", "a b"), "tapctl: set: bridge 'a b': the name contains white space")
        XCTAssertEqual(failure("set", "tap0", "--up", "--down"),
                       "tapctl: set: options '--up' and '--down' cannot be used together (see 'tapctl set --help')")
        XCTAssertEqual(failure("set", "tap0", "--bridge", "br0", "--nobridge"),
                       "tapctl: set: options '--bridge' and '--nobridge' cannot be used together (see 'tapctl set --help')")
        XCTAssertEqual(failure("create", "tap0", "--down"), "tapctl: create: unknown option '--down' (see 'tapctl create --help')")
        XCTAssertEqual(failure("delete", "--all", "--match", "x"),
                       "tapctl: delete: options '--all' and '--match' cannot be used together (see 'tapctl delete --help')")
    }
}
