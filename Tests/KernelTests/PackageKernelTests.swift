import XCTest
import Foundation
import Glibc

/// tapctl as installed: bash completion in a real bash, the boot unit as
/// systemd reads it, and the Debian package, lintian-checked and installed
/// into a throwaway Debian root (never onto this host).
final class PackageKernelTests: KernelTestCase {
    private var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Completion as bash-completion runs it: COMP_WORDS set, the function called.
    func testCompletionInARealBash() throws {
        XCTAssertEqual(tapctl("create", "tap0").status, 0)
        XCTAssertEqual(tapctl("create", "vm1").status, 0)
        let bash = """
            set -u
            export PATH="$BIN_DIR:$PATH"
            source /usr/share/bash-completion/bash_completion
            source <(tapctl completion bash)
            complete -p tapctl >/dev/null || exit 9
            t() {
                COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
                COMPREPLY=()
                _tapctl tapctl "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"
                echo "${COMPREPLY[*]}"
            }
            t tapctl cr
            t tapctl create --mu
            t tapctl delete ''
            t tapctl offload x ''
            t tapctl offload x csum,ts
            t tapctl queue de
            t tapctl create tap9 --user roo
            """
        let outcome = spawn(["env", "BIN_DIR=" + URL(fileURLWithPath: Self.binary).deletingLastPathComponent().path, "bash", "-c", bash])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        XCTAssertEqual(outcome.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init), [
            "create", "--multiqueue", "tap0 vm1",
            "csum tso4 tso6 ecn ufo uso4 uso6 udp-tunnel udp-tunnel-csum none", "csum,tso4 csum,tso6", "detach", "root", "",
        ])
    }

    /// docs/hypervisors.md's libvirt domain is one libvirt accepts.
    func testTheLibvirtRecipeValidates() throws {
        let readme = try String(contentsOf: root.appendingPathComponent("docs/hypervisors.md"), encoding: .utf8)
        let start = try XCTUnwrap(readme.range(of: "```xml\n"))
        let end = try XCTUnwrap(readme.range(of: "```", range: start.upperBound..<readme.endIndex))
        let path = "/tmp/tapctl-domain-\(getpid()).xml"
        try String(readme[start.upperBound..<end.lowerBound]).write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        let validated = spawn(["virt-xml-validate", path, "domain"])
        XCTAssertEqual(validated.status, 0, validated.stdout + validated.stderr)
    }

    /// The units `make install` writes, as systemd-analyze verify reads them
    /// (with the man page their Documentation= names where man finds it):
    /// the early one, and the one that joins bridges after the network.
    func testBootUnitsVerify() throws {
        let directory = "/tmp/tapctl-unit-\(getpid())"
        defer { _ = spawn(["rm", "-rf", directory]) }
        let sbin = URL(fileURLWithPath: Self.binary).deletingLastPathComponent().path
        XCTAssertEqual(spawn(["mkdir", "-p", directory + "/man/man8"]).status, 0)
        XCTAssertEqual(spawn(["cp", root.appendingPathComponent("man/tapctl.8").path, directory + "/man/man8/"]).status, 0)
        let units = ["tapctl-apply.service", "tapctl-apply-bridges.service"]
        for unit in units {
            let text = try String(contentsOf: root.appendingPathComponent("dist/\(unit).in"), encoding: .utf8)
                .replacingOccurrences(of: "@SBINDIR@", with: sbin)
            try text.write(toFile: directory + "/" + unit, atomically: true, encoding: .utf8)
        }
        let verified = spawn(["env", "MANPATH=\(directory)/man:", "systemd-analyze", "verify"] + units.map { directory + "/" + $0 })
        XCTAssertEqual(verified.status, 0, verified.stderr)
        XCTAssertEqual(verified.stderr, "", "no warning either")
    }

    /// `make deb`'s package: lintian reports no error or warning, and it
    /// installs into a minimal Debian made by mmdebstrap (cached in .build),
    /// where tapctl runs and man finds its page.
    func testTheDebianPackageInstallsAndRuns() throws {
        let packages = try FileManager.default.contentsOfDirectory(atPath: root.path).filter { $0.hasSuffix("_amd64.deb") }
        let package = try XCTUnwrap(packages.sorted().last, "make check builds the package with make deb")
        let deb = root.appendingPathComponent(package).path
        let lintian = spawn(["lintian", "--fail-on", "error,warning", "--allow-root", deb])
        XCTAssertEqual(lintian.status, 0, lintian.stdout + lintian.stderr)
        XCTAssertFalse(lintian.stdout.contains("W: ") || lintian.stdout.contains("E: "), lintian.stdout)
        let depends = spawn(["dpkg-deb", "-f", deb, "Depends"]).stdout
        XCTAssertTrue(depends.contains("libc6") && depends.contains("libcap2"), depends)
        XCTAssertFalse(depends.lowercased().contains("swift"), "the Swift runtime is in the binary: \(depends)")
        // Made by `make check` outside the test's namespace, which has no network.
        let tarball = root.appendingPathComponent(".build/debroot/bookworm-minbase.tar").path
        XCTAssertTrue(FileManager.default.fileExists(atPath: tarball), "make check makes \(tarball) with mmdebstrap")
        let chroot = "/tmp/tapctl-debroot-\(getpid())"
        defer { _ = spawn(["rm", "-rf", chroot]) }
        XCTAssertEqual(spawn(["mkdir", "-p", chroot]).status, 0)
        XCTAssertEqual(spawn(["tar", "-xf", tarball, "-C", chroot]).status, 0)
        XCTAssertEqual(spawn(["cp", deb, chroot + "/tmp/tapctl.deb"]).status, 0)
        // dpkg checks Depends against the root's own packages.
        let installed = spawn(["chroot", chroot, "dpkg", "-i", "/tmp/tapctl.deb"])
        XCTAssertEqual(installed.status, 0, installed.stdout + installed.stderr)
        let version = spawn(["chroot", chroot, "tapctl", "--version"])
        XCTAssertEqual(version.status, 0, version.stderr)
        XCTAssertTrue(version.stdout.hasPrefix("tapctl "), version.stdout)
        XCTAssertEqual(spawn(["chroot", chroot, "man", "-w", "tapctl"]).stdout, "/usr/share/man/man8/tapctl.8.gz\n")
        XCTAssertEqual(spawn(["chroot", chroot, "dpkg-query", "-W", "-f", "${Conffiles}", "tapctl"]).stdout.contains("/etc/tapctl/taps.conf"), true)
        XCTAssertEqual(spawn(["chroot", chroot, "ls", "/usr/share/bash-completion/completions/tapctl", "/lib/systemd/system/tapctl-apply.service",
                                    "/lib/systemd/system/tapctl-apply-bridges.service"]).status, 0)
    }
}
