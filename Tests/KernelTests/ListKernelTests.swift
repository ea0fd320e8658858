import XCTest
import Foundation
import Glibc
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

final class ListKernelTests: KernelTestCase {
    private func listJSON(_ arguments: String...) throws -> [[String: Any]] {
        let outcome = spawn([Self.binary] + arguments)
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        return try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [[String: Any]] ?? []
    }

    func testEmptyNamespaceListsNothing() throws {
        XCTAssertEqual(tapctl("list").stdout, "NAME  MODE  FLAGS  OWNER  GROUP  ACCESS  QUEUES  MTU  STATE  BRIDGE  PROCESSES\n",
                       "the header still")
        XCTAssertEqual(tapctl("list", "--json").stdout, "[]\n")
    }

    /// `ip -j -d tuntap show` is the reference (its JSON breaks once processes
    /// are attached, so nothing is attached here).
    func testListAgreesWithIpTuntapShow() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--multiqueue").status, 0)
        XCTAssertEqual(tapctl("create", "tun0", "--tun", "--pi", "--user", "nobody", "--group", "4321").status, 0)
        XCTAssertEqual(tapctl("create", "vh0", "--vnet-hdr", "--no-owner").status, 0)
        let ours = try listJSON("list", "--json")
        let outcome = spawn(["ip", "-j", "-d", "tuntap", "show"])
        let theirs = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [[String: Any]] ?? []
        XCTAssertEqual(ours.map { $0["name"] as? String }, ["tap0", "tun0", "vh0"])
        XCTAssertEqual(Set(theirs.compactMap { $0["ifname"] as? String }), ["tap0", "tun0", "vh0"])
        for reference in theirs {
            let name = reference["ifname"] as? String
            let device = try XCTUnwrap(ours.first { $0["name"] as? String == name })
            let flags = Set(reference["flags"] as? [String] ?? [])
            XCTAssertEqual(device["mode"] as? String, flags.contains("tun") ? "tun" : "tap", "\(name ?? "")")
            for flag in ["multi_queue", "vnet_hdr", "persist"] {
                XCTAssertEqual(device[flag] as? Bool, flags.contains(flag), "\(name ?? "") \(flag)")
            }
            XCTAssertEqual(device["pi"] as? Bool, flags.contains("pi"), "\(name ?? "") pi")
            XCTAssertEqual(device["owner"] as? Int, reference["user"] as? Int, "\(name ?? "") owner")
            XCTAssertEqual(device["group"] as? Int, reference["group"] as? Int, "\(name ?? "") group")
        }
        let tun = try XCTUnwrap(ours.first { $0["name"] as? String == "tun0" })
        XCTAssertEqual(tun["owner_name"] as? String, "nobody")
        XCTAssertTrue(tun["group_name"] is NSNull)
        XCTAssertEqual(tun["any_user_can_attach"] as? Bool, false)
        XCTAssertEqual(try tunLinks().count, 3)
    }

    func testJSONKeysAreStable() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--mac", "02:00:00:00:00:01").status, 0)
        let line = tapctl("--json", "list").stdout
        XCTAssertEqual(line, #"[{"name":"tap0","index":\#(try XCTUnwrap(link("tap0")).index),"mode":"tap","#
                       + #""multi_queue":false,"vnet_hdr":false,"pi":false,"persist":true,"owner":0,"owner_name":"root","#
                       + #""group":null,"group_name":null,"any_user_can_attach":false,"queues":0,"detached_queues":0,"#
                       + #""up":false,"mtu":1500,"mac":"02:00:00:00:00:01","bridge":null,"txqueuelen":1000,"#
                       + #""processes":[]}]"# + "\n")
        XCTAssertEqual(tapctl("show", "tap0", "--json").stdout, String(line.dropFirst().dropLast(2)) + "\n")
        XCTAssertEqual(tapctl("dump", "--json").stdout, line, "one shape for a device: list, show and dump")
    }

    func testQueuesAndHoldersAreCounted() throws {
        XCTAssertEqual(tapctl("create", "mq0", "--multiqueue").status, 0)
        let first = try hold("mq0", flags: [.tap, .noPI, .multiQueue])
        let second = try hold("mq0", flags: [.tap, .noPI, .multiQueue])
        let device = try XCTUnwrap(try listJSON("list", "--json").first)
        XCTAssertEqual(device["queues"] as? Int, 2)
        XCTAssertEqual(device["detached_queues"] as? Int, 0)
        // One entry a process, with the descriptors it holds.
        let processes = device["processes"] as? [[String: Any]] ?? []
        XCTAssertEqual(processes.map { $0["pid"] as? Int }, [Int(getpid())])
        XCTAssertEqual(processes.first?["fds"] as? [Int], [Int(first.descriptor.rawValue), Int(second.descriptor.rawValue)].sorted())
        let text = tapctl("list").stdout
        XCTAssertTrue(text.hasPrefix("NAME  MODE  FLAGS"), text)
        XCTAssertTrue(text.contains("mq0   tap   multi_queue,persist  root(0)  -      owner   2       1500  down   -       \(getpid())/"),
                      text)
        XCTAssertTrue(text.hasSuffix("(2)\n"), "once, with its queue count: \(text)")
        XCTAssertTrue(tapctl("show", "mq0").stdout.contains("queues:      2 attached, 0 detached"), tapctl("show", "mq0").stdout)
        XCTAssertTrue(tapctl("show", "mq0").stdout.contains(", 2 queues)"))
        XCTAssertNotEqual(first.descriptor.rawValue, second.descriptor.rawValue)  // last use: attached until here
    }

    /// A single-queue device's carrier says it is held, even when the holder
    /// is another user's process, which an ordinary user cannot see in /proc.
    func testAnUnseenHolderStillCountsAsAQueue() throws {
        XCTAssertEqual(tapctl("create", "sq0").status, 0)
        let queue = try hold("sq0")
        let outcome = tapctl("list", "--json", prefix: Self.nobody)
        let device = try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [[String: Any]])?.first)
        XCTAssertEqual(device["queues"] as? Int, 1)
        XCTAssertEqual((device["processes"] as? [Any])?.count, 0, "root's process is not nobody's to see")
        XCTAssertEqual(tapctl("delete", "sq0", prefix: Self.withoutNetAdmin).status, 6)
        XCTAssertGreaterThan(queue.descriptor.rawValue, 2)  // held until here
    }

    func testShowOfMissingOrForeignDevicesIsAnError() throws {
        let missing = tapctl("show", "tap0")
        XCTAssertEqual(missing.status, 4)
        XCTAssertEqual(missing.stdout, "")
        XCTAssertEqual(missing.stderr, "tapctl: show tap0: no such device\n")
        let lo = tapctl("show", "lo")
        XCTAssertEqual(lo.status, 4)
        XCTAssertEqual(lo.stdout, "")
        XCTAssertEqual(lo.stderr, "tapctl: show lo: lo is not a tun/tap device\n")
        // Under --json the failure is an object on standard output, and nothing else is printed.
        let json = tapctl("show", "lo", "--json")
        XCTAssertEqual(json.status, 4)
        XCTAssertEqual(json.stdout, #"{"command":"show","subject":"lo","error":"lo is not a tun/tap device","status":4}"# + "\n")
        XCTAssertEqual(json.stderr, "")
    }

    /// Listing needs no sysfs: rtnetlink answers in a namespace that never remounted it.
    func testListWorksWithoutSysfs() throws {
        let script = "\(Self.binary) create tap7 >/dev/null && \(Self.binary) list --json && ls /sys/class/net/tap7 2>&1 | head -1"
        let outcome = spawn(["unshare", "--net", "sh", "-c", script])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        XCTAssertTrue(outcome.stdout.hasPrefix(#"[{"name":"tap7""#), outcome.stdout)
        XCTAssertTrue(outcome.stdout.contains("No such file"), "sysfs is the outer namespace's: \(outcome.stdout)")
    }
}
