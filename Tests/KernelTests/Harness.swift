import XCTest
import Foundation
import Glibc
import CTapShim
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

/// What a finished subprocess left behind.
struct Outcome {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Base class of the tests that drive the built binary against the real TUN driver.
/// They run only inside the throwaway namespace `make check` makes; under CI a
/// skip is a failure, and outside a private namespace they refuse to run at all.
class KernelTestCase: XCTestCase {
    static var binary: String {
        ProcessInfo.processInfo.environment["TAPCTL_BIN"]
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/release/tapctl").path
    }

    override func setUpWithError() throws {
        let environment = ProcessInfo.processInfo.environment
        guard environment["TAPCTL_KERNEL_TESTS"] == "1" else {
            if environment["CI"] != nil {
                XCTFail("kernel tests must run under CI: run them through `make check`, as root")
            }
            throw XCTSkip("kernel tests run through `make check` as root, in a throwaway network namespace")
        }
        let own = ProcFS(system: .live).link("/proc/self/ns/net")
        guard let own, own != ProcFS(system: .live).link("/proc/1/ns/net") else {
            XCTFail("refusing to create devices in the machine's own network namespace")
            throw XCTSkip("not in a private network namespace")
        }
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.binary), "no binary at \(Self.binary)")
        try removeAllTunDevices()
    }

    override func tearDownWithError() throws {
        if ProcessInfo.processInfo.environment["TAPCTL_KERNEL_TESTS"] == "1" {
            try removeAllTunDevices()
        }
    }

    /// Runs tapctl with `arguments`.
    func tapctl(_ arguments: String..., prefix: [String] = [], fds: [CInt: CInt] = [:]) -> Outcome {
        spawn(prefix + [Self.binary] + arguments, fds: fds)
    }

    /// Runs tapctl as another uid/gid (setpriv), or as root without CAP_NET_ADMIN.
    static let nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    static let withoutNetAdmin = ["setpriv", "--bounding-set=-net_admin", "--"]

    /// A command line that runs `arguments` in a private mount namespace where
    /// /dev/net/tun is a node of `tunMode` (this host's is 0600, Debian's
    /// 0666), after `prelude` (shell run as root, with the scratch directory
    /// `scratch` in $R), as the user the `setpriv` options name. `environment`
    /// (NAME=VALUE) reaches the prelude, and is unset before `arguments` run.
    func privateTunCommand(_ arguments: [String], tunMode: String = "0666", prelude: String = "", setpriv: [String],
                           scratch: String, environment: [String] = []) -> [String] {
        let names = environment.map { String($0.prefix { $0 != "=" }) }
        let script = """
            set -e
            mkdir -p "$R"
            \(prelude)
            mknod -m \(tunMode) "$R/tun" c 10 200
            mount --bind "$R/tun" /dev/net/tun
            unset R \(names.joined(separator: " "))
            exec setpriv \(setpriv.joined(separator: " ")) -- "$@"
            """
        return ["env", "R=\(scratch)"] + environment + ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
            + arguments
    }

    /// Every tun/tap device in the namespace, from rtnetlink.
    func tunLinks() throws -> [TunLink] {
        var socket = try RouteSocket(system: .live)
        return try socket.tunLinks()
    }

    func link(_ name: String) throws -> TunLink? {
        try tunLinks().first { $0.name.utf8.elementsEqual(name.utf8) }
    }

    /// Any device by name, with its link settings (MTU, master, flags).
    func anyLink(_ name: String) throws -> Link? {
        var socket = try RouteSocket(system: .live)
        return try socket.link(named: name)
    }

    /// By index: a name that is not UTF-8 cannot be spelled back to ip.
    private func removeAllTunDevices() throws {
        var socket = try RouteSocket(system: .live)
        for link in try socket.tunLinks() {
            XCTAssertNil(try socket.change([LinkRequest(type: UInt16(RTM_DELLINK), index: link.index)])[0], "cleanup of \(link.name)")
        }
    }

    /// `ip -j -d ...`, parsed.
    func ipJSON(_ arguments: String...) throws -> [[String: Any]] {
        let outcome = spawn(["ip", "-j", "-d"] + arguments)
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        let parsed = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8))
        return parsed as? [[String: Any]] ?? []
    }

    /// The IFLA_TUN details `ip -d link show` prints for one device.
    func ipTunInfo(_ name: String) throws -> [String: Any] {
        let linkinfo = try ipJSON("link", "show", "dev", name).first?["linkinfo"] as? [String: Any]
        XCTAssertEqual(linkinfo?["info_kind"] as? String, "tun")
        return linkinfo?["info_data"] as? [String: Any] ?? [:]
    }

    func sysfs(_ name: String, _ attribute: String) -> String? {
        (try? String(contentsOfFile: "/sys/class/net/\(name)/\(attribute)", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Attaches a queue in this test process, as a VM would, until the value is dropped.
    func hold(_ name: String, flags: TunFlags = [.tap, .noPI]) throws -> TapQueue {
        let queue = try TapQueue()
        _ = try queue.descriptor.setInterface(name, flags: flags)
        return queue
    }
}

/// A started subprocess whose stdout and stderr go to temporary files.
struct Running {
    let pid: pid_t
    let outPath: String
    let errPath: String

    func wait() -> Outcome {
        var status: CInt = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        defer {
            unlink(outPath)
            unlink(errPath)
            unlink(String(outPath.dropLast(3)) + "in")
        }
        let read = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        let exited = status & 0x7f == 0
        return Outcome(status: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), stdout: read(outPath), stderr: read(errPath))
    }
}

/// posix_spawnp with each `fds` entry (target: source) placed at its target
/// number in the child, and every other descriptor above 2 closed there.
/// `stdin`, when given, is the child's standard input, and `environment`
/// (NAME=VALUE) its whole environment.
func start(_ argv: [String], fds: [CInt: CInt] = [:], stdin: String? = nil, environment: [String]? = nil) -> Running? {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    let tag = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let outPath = "/tmp/tapctl-test-\(tag)-out", errPath = "/tmp/tapctl-test-\(tag)-err"
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    if let stdin {
        let inPath = "/tmp/tapctl-test-\(tag)-in"
        _ = FileManager.default.createFile(atPath: inPath, contents: Data(stdin.utf8))
        posix_spawn_file_actions_addopen(&actions, 0, inPath, O_RDONLY, 0)
    }
    // Move sources out of the way first: dup2 onto the same number would keep close-on-exec.
    var parked: [CInt] = []
    for (target, source) in fds {
        let high = fcntl(source, F_DUPFD_CLOEXEC, 500)
        parked.append(high)
        posix_spawn_file_actions_adddup2(&actions, high, target)
    }
    defer { parked.forEach { close($0) } }
    closeFrom(&actions, (fds.keys.max() ?? 2) + 1)
    let cArguments = argv.map { strdup($0) } + [nil]
    defer { cArguments.forEach { free($0) } }
    var pid = pid_t()
    let cEnvironment: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup($0) } + [nil] }
    defer { cEnvironment?.forEach { free($0) } }
    let spawned = if let cEnvironment {
        posix_spawnp(&pid, argv[0], &actions, nil, cArguments, cEnvironment)
    } else {
        posix_spawnp(&pid, argv[0], &actions, nil, cArguments, environ)
    }
    guard spawned == 0 else { return nil }
    return Running(pid: pid, outPath: outPath, errPath: errPath)
}

/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34), which the Glibc module does not export.
private func closeFrom(_ actions: inout posix_spawn_file_actions_t, _ fd: CInt) {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, CInt) -> CInt
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else {
        return
    }
    _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, fd)
}

func spawn(_ argv: [String], fds: [CInt: CInt] = [:]) -> Outcome {
    start(argv, fds: fds)?.wait() ?? Outcome(status: -1, stdout: "", stderr: "cannot spawn \(argv[0])")
}

/// One recvmsg on a Unix socket: the data as text and the SCM_RIGHTS descriptors.
func receiveDescriptors(on socket: CInt) -> (text: String, fds: [CInt]) {
    let (_, payload, fds) = receiveMessage(on: socket, system: .live)
    return (String(decoding: payload, as: UTF8.self), fds)
}

/// A process holding a network namespace of its own (`unshare --net sleep`),
/// returned once it is in it: unshare enters the namespace after it starts,
/// and a test that went on before then would act on the test's own namespace.
func startNamespaceHolder(seconds: Int = 60) throws -> Running {
    guard let holder = start(["unshare", "--net", "sleep", String(seconds)]) else {
        throw POSIXError(.ENOENT)
    }
    var ours = stat(), theirs = stat()
    stat("/proc/self/ns/net", &ours)
    // Bounded by the holder's life, not by a time: it waits only while the process lives.
    while stat("/proc/\(holder.pid)/ns/net", &theirs) == 0 && theirs.st_ino == ours.st_ino { usleep(10_000) }
    return holder
}
