import CTapShim

/// Layer 3 (tun) or layer 2 (tap).
public enum TunMode: String, Sendable, CaseIterable {
    case tun, tap

    var flag: TunFlags { self == .tun ? .tun : .tap }
}

/// The `ifr_flags` bits of TUNSETIFF and TUNGETIFF (include/uapi/linux/if_tun.h).
public struct TunFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let tun = TunFlags(rawValue: UInt16(IFF_TUN))
    public static let tap = TunFlags(rawValue: UInt16(IFF_TAP))
    public static let napi = TunFlags(rawValue: UInt16(IFF_NAPI))
    public static let napiFrags = TunFlags(rawValue: UInt16(IFF_NAPI_FRAGS))
    public static let noCarrier = TunFlags(rawValue: 0x0040)  // IFF_NO_CARRIER, 6.1+
    public static let multiQueue = TunFlags(rawValue: UInt16(IFF_MULTI_QUEUE))
    public static let attachQueue = TunFlags(rawValue: UInt16(IFF_ATTACH_QUEUE))
    public static let detachQueue = TunFlags(rawValue: UInt16(IFF_DETACH_QUEUE))
    public static let persist = TunFlags(rawValue: UInt16(IFF_PERSIST))
    public static let noPI = TunFlags(rawValue: UInt16(IFF_NO_PI))
    public static let oneQueue = TunFlags(rawValue: UInt16(IFF_ONE_QUEUE))
    public static let vnetHdr = TunFlags(rawValue: UInt16(IFF_VNET_HDR))
    public static let tunExcl = TunFlags(rawValue: UInt16(IFF_TUN_EXCL))

    /// Names in bit order, as the kernel's headers spell them without the IFF_ prefix.
    static let names: [(TunFlags, String)] = [
        (.tun, "tun"), (.tap, "tap"), (.napi, "napi"), (.napiFrags, "napi_frags"),
        (.noCarrier, "no_carrier"), (.multiQueue, "multi_queue"), (.attachQueue, "attach_queue"),
        (.detachQueue, "detach_queue"), (.persist, "persist"), (.noPI, "no_pi"),
        (.oneQueue, "one_queue"), (.vnetHdr, "vnet_hdr"), (.tunExcl, "tun_excl"),
    ]

    /// The set bits by name; bits without a name appear as hex.
    public var names: [String] {
        var rest = self
        var out: [String] = []
        for (flag, name) in Self.names where contains(flag) {
            out.append(name)
            rest.remove(flag)
        }
        if !rest.isEmpty { out.append("0x" + String(rest.rawValue, radix: 16)) }
        return out
    }

    public var description: String { names.joined(separator: ",") }

    public var mode: TunMode? {
        switch intersection([.tun, .tap]) {
        case .tun: return .tun
        case .tap: return .tap
        default: return nil
        }
    }
}
