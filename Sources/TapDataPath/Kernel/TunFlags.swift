import CTapShim
import SystemPackage
import TapSystem

/// Layer 3 (tun) or layer 2 (tap).
public enum TunMode: String, Sendable, CaseIterable {
    case tun, tap

    package var flag: TunFlags { self == .tun ? .tun : .tap }
}

/// The `ifr_flags` bits of TUNSETIFF and TUNGETIFF (include/uapi/linux/if_tun.h).
public struct TunFlags: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// IFF_TUN: a layer 3 device, whose frames are IP packets.
    public static let tun = TunFlags(rawValue: UInt16(IFF_TUN))
    /// IFF_TAP: a layer 2 device, whose frames are Ethernet frames.
    public static let tap = TunFlags(rawValue: UInt16(IFF_TAP))
    /// IFF_NAPI: frames written enter the network stack through NAPI.
    public static let napi = TunFlags(rawValue: UInt16(IFF_NAPI))
    /// IFF_NAPI_FRAGS: with IFF_NAPI, a written frame is built from page fragments; needs CAP_NET_ADMIN.
    public static let napiFrags = TunFlags(rawValue: UInt16(IFF_NAPI_FRAGS))
    /// IFF_NO_CARRIER (6.1+): attaching leaves the carrier off.
    public static let noCarrier = TunFlags(rawValue: 0x0040)  // IFF_NO_CARRIER, 6.1+
    /// IFF_MULTI_QUEUE: the device takes up to 256 queues, one descriptor each.
    public static let multiQueue = TunFlags(rawValue: UInt16(IFF_MULTI_QUEUE))
    /// IFF_ATTACH_QUEUE: for TUNSETQUEUE, enables a disabled queue.
    public static let attachQueue = TunFlags(rawValue: UInt16(IFF_ATTACH_QUEUE))
    /// IFF_DETACH_QUEUE: for TUNSETQUEUE, disables a queue; TUNGETIFF reports it on a disabled one.
    public static let detachQueue = TunFlags(rawValue: UInt16(IFF_DETACH_QUEUE))
    /// IFF_PERSIST: reported by TUNGETIFF; set with TUNSETPERSIST, never through TUNSETIFF.
    public static let persist = TunFlags(rawValue: UInt16(IFF_PERSIST))
    /// IFF_NO_PI: no 4-byte packet information header (flags, protocol) before each frame.
    public static let noPI = TunFlags(rawValue: UInt16(IFF_NO_PI))
    /// IFF_ONE_QUEUE: accepted, with no effect since Linux 3.8.
    public static let oneQueue = TunFlags(rawValue: UInt16(IFF_ONE_QUEUE))
    /// IFF_VNET_HDR: a virtio-net header (`VirtioNetHeader`) before each frame.
    public static let vnetHdr = TunFlags(rawValue: UInt16(IFF_VNET_HDR))
    /// IFF_TUN_EXCL: TUNSETIFF on an existing device fails with EBUSY instead of attaching.
    public static let tunExcl = TunFlags(rawValue: UInt16(IFF_TUN_EXCL))

    /// Names in bit order, as the kernel's headers spell them without the IFF_ prefix.
    package static let names: [(TunFlags, String)] = [
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

    /// Tun or tap; nil when neither bit is set, or both.
    public var mode: TunMode? {
        switch intersection([.tun, .tap]) {
        case .tun: return .tun
        case .tap: return .tap
        default: return nil
        }
    }
}
