import XCTest
import Foundation
import Glibc
@testable import TapCore
@testable import TapDataPath
import SystemPackage
@testable import TapSystem

final class SettingsKernelTests: KernelTestCase {
    /// `ethtool -k NAME` as feature → on.
    private func ethtool(_ name: String) -> [String: Bool] {
        let outcome = spawn(["ethtool", "-k", name])
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        var features: [String: Bool] = [:]
        for line in outcome.stdout.split(separator: "\n") {
            let parts = line.trimmingCharacters(in: .whitespaces).split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            features[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces).hasPrefix("on")
        }
        return features
    }

    private func json(_ outcome: Outcome) throws -> [String: Any] {
        XCTAssertEqual(outcome.status, 0, outcome.stderr)
        return try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any] ?? [:]
    }

    private let offloadFeatures = ["tx-checksum-ip-generic", "tx-tcp-segmentation", "tx-tcp6-segmentation",
                                   "tx-tcp-ecn-segmentation", "tx-udp-segmentation"]

    func testProbeTheKernelAndLeaveNothingBehind() throws {
        let text = tapctl("probe")
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("queues per device:  256"), text.stdout)
        let probe = try json(tapctl("probe", "--json"))
        let features = probe["features"] as? [String] ?? []
        for flag in ["tun", "tap", "multi_queue", "no_pi", "vnet_hdr"] { XCTAssertTrue(features.contains(flag), flag) }
        let accepted = Set(probe["offloads_accepted"] as? [String] ?? [])
        let refused = Set(probe["offloads_refused"] as? [String] ?? [])
        XCTAssertEqual(accepted.union(refused), Set(Offloads.names.map(\.1)))
        XCTAssertTrue(accepted.isDisjoint(with: refused))
        for name in ["csum", "tso4", "tso6", "ecn", "ufo", "uso4", "uso6"] { XCTAssertTrue(accepted.contains(name), name) }
        XCTAssertEqual(probe["vnet_hdr_sizes"] as? [Int], [10, 12, 20, 24])
        XCTAssertFalse((probe["release"] as? String ?? "").isEmpty)
        XCTAssertEqual(probe["vnet_le"] as? Bool, true)
        XCTAssertEqual(probe["max_queues"] as? Int, 256)
        XCTAssertTrue(probe["untested"] is NSNull)
        XCTAssertEqual(try tunLinks(), [], "the throwaway device is gone")
    }

    static let kernelKeys: Set<String> = ["release", "tun_mode", "features", "offloads_accepted", "offloads_refused",
                                          "vnet_hdr_sizes", "vnet_le", "vnet_be", "max_queues", "untested"]
    static let deviceKeys: Set<String> = ["name", "index", "mode", "multi_queue", "vnet_hdr", "pi", "persist", "owner",
                                          "owner_name", "group", "group_name", "any_user_can_attach", "queues",
                                          "detached_queues", "up", "mtu", "mac", "bridge", "txqueuelen", "processes", "in_use", "queue_vnet_hdr", "offloads", "ethtool", "ufo",
                                          "vnet_hdr_size", "sndbuf", "virtio_net", "kernel", "unknown"]

    func testProbeJSONKeysAreStable() throws {
        XCTAssertEqual(Set(try json(tapctl("probe", "--json")).keys), Self.kernelKeys)
        XCTAssertEqual(Set(try json(tapctl("probe", "--json", prefix: Self.withoutNetAdmin)).keys), Self.kernelKeys)
        XCTAssertEqual(tapctl("create", "tap0").status, 0)
        let device = try json(tapctl("probe", "tap0", "--json"))
        XCTAssertEqual(Set(device.keys), Self.deviceKeys)
        XCTAssertEqual(Set((device["kernel"] as? [String: Any] ?? [:]).keys), Self.kernelKeys)
        XCTAssertEqual(Set((device["ethtool"] as? [String: Any] ?? [:]).keys), Set(Offloads.featureNames.map(\.1)))
    }

    func testProbeWithoutNetAdminSaysWhatItDidNotTest() throws {
        let probe = try json(tapctl("probe", "--json", prefix: Self.withoutNetAdmin))
        XCTAssertTrue((probe["features"] as? [String] ?? []).contains("tap"))
        XCTAssertTrue(probe["offloads_accepted"] is NSNull)
        XCTAssertTrue(probe["max_queues"] is NSNull)
        XCTAssertEqual(probe["untested"] as? String, "creating a throwaway device needs CAP_NET_ADMIN")
        XCTAssertTrue(tapctl("probe", prefix: Self.withoutNetAdmin).stdout.contains(
            "not tested:  creating a throwaway device needs CAP_NET_ADMIN: offloads, header sizes, queues"))
        XCTAssertEqual(try tunLinks(), [])
    }

    func testProbeADeviceByNameAgreesWithEthtoolAndDetaches() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--multiqueue", "--vnet-hdr").status, 0)
        XCTAssertEqual(tapctl("offload", "tap0", "csum,tso4,tso6").status, 0)
        let probe = try json(tapctl("probe", "tap0", "--json"))
        XCTAssertEqual(probe["offloads"] as? [String], ["csum", "tso4", "tso6"])
        let kernelView = ethtool("tap0")
        for (feature, on) in probe["ethtool"] as? [String: Bool] ?? [:] {
            XCTAssertEqual(kernelView[feature], on, feature)
        }
        XCTAssertEqual(probe["queues"] as? Int, 0, "read before the temporary queue")
        XCTAssertEqual(probe["vnet_hdr_size"] as? Int, 10)
        XCTAssertTrue(probe["sndbuf"] is NSNull)
        XCTAssertEqual(probe["ufo"] as? Bool, true)
        let virtio = probe["virtio_net"] as? [String] ?? []
        for feature in ["CSUM", "GUEST_CSUM", "GUEST_TSO4", "HOST_TSO4", "MRG_RXBUF", "MQ"] {
            XCTAssertTrue(virtio.contains(feature), feature)
        }
        XCTAssertEqual(try link("tap0")?.queues, 0, "the temporary queue is detached")
        XCTAssertEqual(try tunLinks().map(\.name), ["tap0"], "no throwaway device left")
        let text = tapctl("probe", "tap0").stdout
        XCTAssertTrue(text.contains("ufo:            accepted (ignored by the kernel since 4.14)"), text)
        XCTAssertTrue(text.contains("virtio-net:     CSUM "), text)
    }

    func testNothingIsAttachedToABusyDevice() throws {
        XCTAssertEqual(tapctl("create", "mq0", "--multiqueue").status, 0)
        XCTAssertEqual(tapctl("create", "sq0").status, 0)
        let multi = try hold("mq0", flags: [.tap, .noPI, .multiQueue])
        let single = try hold("sq0")
        for arguments in [["offload", "mq0", "csum"], ["vnet-hdr-size", "mq0", "12"], ["offload", "sq0", "none"]] {
            let outcome = spawn([Self.binary] + arguments)
            XCTAssertEqual(outcome.status, 6, "\(arguments)")
            XCTAssertTrue(outcome.stderr.hasPrefix("tapctl: \(arguments[0]) \(arguments[1]): in use by pid \(getpid()) "),
                          outcome.stderr)
            XCTAssertTrue(outcome.stderr.hasSuffix("; tapctl never adds a queue to a device in use; --fd N acts on a queue the holder passes\n"))
        }
        // probe answers what it can without a queue, and says what it could not.
        for name in ["mq0", "sq0"] {
            let probe = try json(tapctl("probe", name, "--json"))
            XCTAssertEqual(probe["in_use"] as? Bool, true)
            XCTAssertEqual((probe["processes"] as? [[String: Any]])?.first?["pid"] as? Int, Int(getpid()))
            XCTAssertEqual(probe["offloads"] as? [String], [])
            XCTAssertTrue(probe["vnet_hdr_size"] is NSNull)
            XCTAssertTrue(probe["queue_vnet_hdr"] is NSNull)
            let unknown = probe["unknown"] as? [String: String] ?? [:]
            XCTAssertEqual(unknown["vnet_hdr_size"], "\(name) is in use, and tapctl never adds a queue to a device in use")
            XCTAssertEqual(Set(unknown.keys), ["queue_vnet_hdr", "vnet_hdr_size", "sndbuf"])
            XCTAssertTrue((probe["virtio_net"] as? [String] ?? []).contains("GUEST_TSO4"))
            let text = tapctl("probe", name)
            XCTAssertEqual(text.status, 0)
            XCTAssertTrue(text.stdout.contains("vnet hdr size:  unknown: \(name) is in use"), text.stdout)
            XCTAssertTrue(text.stdout.contains("QEMU resets a tap's offloads when it starts"), text.stdout)
        }
        XCTAssertEqual(try link("mq0")?.queues, 1)
        XCTAssertTrue(tapctl("show", "sq0").stdout.contains("queues:      1 attached"))
        XCTAssertEqual(ethtool("mq0")["tx-checksum-ip-generic"], false, "nothing was changed")
        XCTAssertNotEqual(multi.descriptor.rawValue, single.descriptor.rawValue)  // last use: held until here
    }

    func testOffloadsByNameAndByFdMatchEthtool() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--vnet-hdr").status, 0)
        let set = tapctl("offload", "tap0", "tso6,csum,tso4,ecn")
        XCTAssertEqual(set.stdout, "csum,tso4,tso6,ecn\n", set.stderr)
        var features = ethtool("tap0")
        XCTAssertEqual(offloadFeatures.map { features[$0] }, [true, true, true, true, false])
        let queue = try hold("tap0", flags: [.tap, .noPI, .vnetHdr])
        let byFd = tapctl("offload", "--fd", "4", "csum,uso4,uso6", "--json", fds: [4: queue.descriptor.rawValue])
        XCTAssertEqual(byFd.stdout, #"{"offloads":["csum","uso4","uso6"]}"# + "\n", byFd.stderr)
        features = ethtool("tap0")
        XCTAssertEqual(offloadFeatures.map { features[$0] }, [true, false, false, false, true])
        XCTAssertEqual(tapctl("offload", "--fd", "4", "none", fds: [4: queue.descriptor.rawValue]).stdout, "none\n")
        XCTAssertEqual(ethtool("tap0")["tx-checksum-ip-generic"], false)
        XCTAssertTrue(tapctl("show", "tap0").stdout.contains("queues:      1 attached"), "the inherited queue stays")
        XCTAssertGreaterThan(queue.descriptor.rawValue, 2)  // last use: held until here
    }

    func testEveryRejectedCombinationLeavesTheSetAlone() throws {
        XCTAssertEqual(tapctl("create", "tap0").status, 0)
        XCTAssertEqual(tapctl("offload", "tap0", "csum,tso4").status, 0)
        let rejected = [("tso4", "tso4 needs csum"), ("tso6", "tso6 needs csum"), ("ecn", "ecn needs csum"),
                        ("ufo", "ufo needs csum"), ("uso4,uso6", "uso4 needs csum"), ("csum,ecn", "ecn needs tso4 or tso6"),
                        ("csum,uso4", "uso4 and uso6 go together"), ("csum,uso6", "uso4 and uso6 go together"),
                        ("csum,udp-tunnel", "udp-tunnel needs tso4, tso6 or uso4,uso6"),
                        ("csum,tso4,udp-tunnel-csum", "udp-tunnel-csum needs udp-tunnel")]
        for (list, rule) in rejected {
            let outcome = tapctl("offload", "tap0", list)
            XCTAssertEqual(outcome.status, 2, list)
            XCTAssertEqual(outcome.stderr, "tapctl: offload tap0: \(rule) (see 'tapctl offload --help')\n")
        }
        let features = ethtool("tap0")
        XCTAssertEqual(offloadFeatures.map { features[$0] }, [true, true, false, false, false])
    }

    func testVnetHeaderSizeIsStickyAcrossQueues() throws {
        XCTAssertEqual(tapctl("create", "tap0", "--vnet-hdr").status, 0)
        XCTAssertEqual(tapctl("vnet-hdr-size", "tap0", "12").stdout, "12\n")
        let queue = try hold("tap0", flags: [.tap, .noPI, .vnetHdr])
        XCTAssertEqual(try queue.descriptor.vnetHeaderSize(), 12, "a later queue sees it")
        XCTAssertEqual(tapctl("vnet-hdr-size", "--fd", "6", "24", "--json", fds: [6: queue.descriptor.rawValue]).stdout,
                       #"{"vnet_hdr_size":24}"# + "\n")
        XCTAssertEqual(try queue.descriptor.vnetHeaderSize(), 24)
        let probe = try json(tapctl("probe", "--fd", "6", "--json", fds: [6: queue.descriptor.rawValue]))
        XCTAssertEqual(probe["vnet_hdr_size"] as? Int, 24)
        XCTAssertEqual(probe["sndbuf"] as? Int, Int(Int32.max))
        let pids = (probe["processes"] as? [[String: Any]] ?? []).compactMap { $0["pid"] as? Int }
        XCTAssertEqual(Set(pids), [Int(getpid())], "the test process, not tapctl")
    }

    func testSendBufferOnAnInheritedQueue() throws {
        XCTAssertEqual(tapctl("create", "tap0").status, 0)
        let queue = try hold("tap0")
        XCTAssertEqual(tapctl("sndbuf", "--fd", "5", "65536", fds: [5: queue.descriptor.rawValue]).stdout, "65536\n")
        XCTAssertEqual(try queue.descriptor.sendBuffer(), 65536)
        XCTAssertEqual(tapctl("sndbuf", "--fd", "5", "unlimited", fds: [5: queue.descriptor.rawValue]).stdout, "unlimited\n")
        XCTAssertEqual(try queue.descriptor.sendBuffer(), Int(Int32.max))
        XCTAssertEqual(tapctl("sndbuf", "tap0", "4096").status, 2)
    }

    func testQueueDetachAndAttachShowInIpLink() throws {
        XCTAssertEqual(tapctl("create", "mq0", "--multiqueue").status, 0)
        let queue = try hold("mq0", flags: [.tap, .noPI, .multiQueue])
        let fd = queue.descriptor.rawValue
        func numbers() throws -> (Int?, Int?) {
            let info = try ipTunInfo("mq0")
            return (info["numqueues"] as? Int, info["numdisabled"] as? Int)
        }
        XCTAssertEqual(tapctl("queue", "detach", "--fd", "3", fds: [3: fd]).status, 0)
        XCTAssertTrue(try numbers() == (0, 1))
        XCTAssertEqual(tapctl("ifname", "--fd", "3", "--json", fds: [3: fd]).stdout.contains(#""detached":true"#), true)
        XCTAssertEqual(tapctl("queue", "detach", "--fd", "3", fds: [3: fd]).stderr,
                       "tapctl: queue fd 3: already detached from mq0\n")
        XCTAssertEqual(tapctl("queue", "attach", "--fd", "3", "--json", fds: [3: fd]).stdout,
                       #"{"fd":3,"name":"mq0","detached":false}"# + "\n")
        XCTAssertTrue(try numbers() == (1, 0))
        XCTAssertEqual(tapctl("queue", "attach", "--fd", "3", fds: [3: fd]).stderr,
                       "tapctl: queue fd 3: already attached to mq0\n")
        XCTAssertGreaterThan(fd, 2)
        XCTAssertGreaterThan(queue.descriptor.rawValue, 2)  // last use: held until here
    }

    func testQueueRefusalsAreSentences() throws {
        XCTAssertEqual(tapctl("create", "sq0").status, 0)
        let single = try hold("sq0")
        let unattached = try TapQueue()
        let file = open("/proc/self/status", O_RDONLY | O_CLOEXEC)
        defer { close(file) }
        let cases: [(CInt?, String, Int32)] = [
            (single.descriptor.rawValue, "tapctl: queue fd 3: a queue of sq0, which is not multiqueue\n", 1),
            (unattached.descriptor.rawValue, "tapctl: queue fd 3: a tun/tap descriptor attached to no device\n", 4),
            (file, "tapctl: queue fd 3: not a tun/tap descriptor\n", 4),
            (nil, "tapctl: queue fd 3: not open\n", 4),
        ]
        for (source, message, status) in cases {
            let outcome = tapctl("queue", "detach", "--fd", "3", fds: source.map { [3: $0] } ?? [:])
            XCTAssertEqual(outcome.status, status, message)
            XCTAssertEqual(outcome.stderr, message)
        }
        XCTAssertNotEqual(single.descriptor.rawValue, unattached.descriptor.rawValue)  // last use
    }
}
