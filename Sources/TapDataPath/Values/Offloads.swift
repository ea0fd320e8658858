import SystemPackage
import TapSystem
/// The TUNSETOFFLOAD bits (TUN_F_*): what the kernel may hand this tap without
/// finishing it first, i.e. the guest's receive offloads.
public struct Offloads: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// TUN_F_CSUM: frames may come with a checksum to finish (VIRTIO_NET_HDR_F_NEEDS_CSUM);
    /// every other offload needs it.
    public static let csum = Offloads(rawValue: 0x01)
    /// TUN_F_TSO4: TCP over IPv4 may come unsegmented.
    public static let tso4 = Offloads(rawValue: 0x02)
    /// TUN_F_TSO6: TCP over IPv6 may come unsegmented.
    public static let tso6 = Offloads(rawValue: 0x04)
    /// TUN_F_TSO_ECN: unsegmented TCP may carry ECN (CWR); needs tso4 or tso6.
    public static let ecn = Offloads(rawValue: 0x08)
    /// Accepted and ignored since Linux 4.14.
    public static let ufo = Offloads(rawValue: 0x10)
    /// 6.2+, and only together with uso6.
    public static let uso4 = Offloads(rawValue: 0x20)
    /// TUN_F_USO6: UDP over IPv6 may come unsegmented; 6.2+, only together with uso4.
    public static let uso6 = Offloads(rawValue: 0x40)
    /// 6.17+.
    public static let udpTunnel = Offloads(rawValue: 0x80)
    /// TUN_F_UDP_TUNNEL_GSO_CSUM (6.17+): UDP-tunnelled frames with an outer UDP checksum may come
    /// unsegmented; needs udpTunnel.
    public static let udpTunnelCsum = Offloads(rawValue: 0x100)

    /// Names as the command line spells them, in bit order.
    public static let names: [(Offloads, String)] = [
        (.csum, "csum"), (.tso4, "tso4"), (.tso6, "tso6"), (.ecn, "ecn"), (.ufo, "ufo"),
        (.uso4, "uso4"), (.uso6, "uso6"), (.udpTunnel, "udp-tunnel"), (.udpTunnelCsum, "udp-tunnel-csum"),
    ]

    /// The offloads in the set by name, in bit order.
    public var names: [String] { Self.names.filter { contains($0.0) }.map(\.1) }

    /// "none" for the empty set.
    public var description: String { isEmpty ? "none" : names.joined(separator: ",") }

    /// What is wrong with an offload list or set, carried by `TapError.offloadProblem`.
    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        case unknown(String)
        case empty
        case noneWithOthers
        case rule(String)

        public var description: String {
            switch self {
            case .unknown(let word):
                return "unknown offload '\(word)' (known: \(Offloads.names.map(\.1).joined(separator: ", ")), none)"
            case .empty: return "empty offload list"
            case .noneWithOthers: return "'none' cannot be combined with other offloads"
            case .rule(let rule): return rule
            }
        }
    }

    /// Parses "csum,tso4,..." or "none", and checks the kernel's combination
    /// rules. Throws `TapError.offloadProblem`.
    public init(parsing list: String) throws(TapError) {
        let words = list.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        if list.isEmpty { throw .offloadProblem(.empty) }
        if words == ["none"] {
            self = []
            return
        }
        var set: Offloads = []
        for word in words {
            if word == "none" { throw .offloadProblem(.noneWithOthers) }
            guard let entry = Self.names.first(where: { $0.1 == word }) else { throw .offloadProblem(.unknown(word)) }
            set.insert(entry.0)
        }
        try set.validate()
        self = set
    }

    /// The rules of the kernel's set_offload(), which would otherwise answer a
    /// bare EINVAL. Throws `TapError.offloadProblem` naming the rule broken.
    public func validate() throws(TapError) {
        do {
            try checkRules()
        } catch {
            throw .offloadProblem(error)
        }
    }

    private func checkRules() throws(Problem) {
        for (flag, name) in Self.names where flag != .csum && contains(flag) && !contains(.csum) {
            throw .rule("\(name) needs csum")
        }
        if contains(.ecn) && isDisjoint(with: [.tso4, .tso6]) { throw .rule("ecn needs tso4 or tso6") }
        if contains(.uso4) != contains(.uso6) { throw .rule("uso4 and uso6 go together") }
        if contains(.udpTunnel) && isDisjoint(with: [.tso4, .tso6, .uso4]) {
            throw .rule("udp-tunnel needs tso4, tso6 or uso4,uso6")
        }
        if contains(.udpTunnelCsum) && !contains(.udpTunnel) { throw .rule("udp-tunnel-csum needs udp-tunnel") }
    }

    /// The smallest valid set that holds `self`: each offload with what it needs.
    package var withPrerequisites: Offloads {
        var set = self
        if !set.isEmpty { set.insert(.csum) }
        if set.contains(.ecn) && set.isDisjoint(with: [.tso4, .tso6]) { set.insert(.tso4) }
        if !set.isDisjoint(with: [.uso4, .uso6]) { set.formUnion([.uso4, .uso6]) }
        if set.contains(.udpTunnelCsum) { set.insert(.udpTunnel) }
        if set.contains(.udpTunnel) && set.isDisjoint(with: [.tso4, .tso6, .uso4]) { set.insert(.tso4) }
        return set
    }

    /// The groups `probe` tries one by one: each offload, USO as a pair.
    public static let probeGroups: [Offloads] = [.csum, .tso4, .tso6, .ecn, .ufo, [.uso4, .uso6], .udpTunnel, .udpTunnelCsum]

    /// ethtool feature names (ethtool -k) for the netdev features TUNSETOFFLOAD sets.
    /// UFO has none: the kernel ignores it.
    public static let featureNames: [(Offloads, String)] = [
        (.csum, "tx-checksum-ip-generic"), (.tso4, "tx-tcp-segmentation"), (.tso6, "tx-tcp6-segmentation"),
        (.ecn, "tx-tcp-ecn-segmentation"), ([.uso4, .uso6], "tx-udp-segmentation"),
        (.udpTunnel, "tx-udp_tnl-segmentation"), (.udpTunnelCsum, "tx-udp_tnl-csum-segmentation"),
    ]

    /// The set that features on a tun device stand for.
    package init(features: Set<String>) {
        var set: Offloads = []
        for (flag, name) in Self.featureNames where features.contains(name) { set.formUnion(flag) }
        self = set
    }
}
