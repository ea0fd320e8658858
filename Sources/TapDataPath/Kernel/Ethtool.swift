import Glibc
import CTapShim
import SystemPackage
import TapSystem

/// A device's netdev features by ethtool name, read with the SIOCETHTOOL ioctl
/// (no privilege needed): what `ethtool -k` shows.
public struct DeviceFeatures: Equatable, Sendable {
    /// Features asked for with ethtool -K (for tun, all offloads unless turned off there).
    public var requested: Set<String>
    /// Features in force: for tun, those of the requested ones TUNSETOFFLOAD allows.
    public var active: Set<String>

    /// The offload set in force, as TUNSETOFFLOAD spells it.
    public var offloads: Offloads { Offloads(features: active) }

    package static func read(_ name: String, system: SystemCalls) throws(TapError) -> DeviceFeatures {
        let socket: CInt
        do {
            socket = try retryingEINTR { system.socket(AF_UNIX, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0) }
        } catch {
            throw .system(.socket, error)
        }
        defer { _ = system.close(socket) }
        func ethtool(_ buffer: inout [UInt8]) throws(TapError) {
            do {
                _ = try retryingEINTR {
                    buffer.withUnsafeMutableBytes { raw in
                        var request = ifreq()
                        ctap_ifreq_set_data(&request, name, raw.baseAddress)
                        return withUnsafeMutableBytes(of: &request) { bytes -> CInt in
                            guard let address = bytes.baseAddress else { return -1 }
                            return system.ioctl(socket, UInt(SIOCETHTOOL), .pointer(address))
                        }
                    }
                }
            } catch {
                throw error == .operationNotSupportedByDevice ? .notFound(name) : .system(.ethtool, error)
            }
        }
        // How many features: ETHTOOL_GSSET_INFO {cmd, reserved, u64 mask, u32 data[]}.
        var info = [UInt8](repeating: 0, count: 20)
        info.replaceSubrange(0..<4, with: bytes(UInt32(ETHTOOL_GSSET_INFO)))
        info.replaceSubrange(8..<16, with: bytes(UInt64(1) << UInt64(ETH_SS_FEATURES.rawValue)))
        try ethtool(&info)
        let count = Int(info.loadNative(UInt32.self, at: 16))
        // Their names: ETHTOOL_GSTRINGS {cmd, string_set, len, u8 data[len * 32]}.
        let width = Int(ETH_GSTRING_LEN)
        var strings = [UInt8](repeating: 0, count: 12 + count * width)
        strings.replaceSubrange(0..<12, with: bytes(UInt32(ETHTOOL_GSTRINGS)) + bytes(UInt32(ETH_SS_FEATURES.rawValue)) + bytes(UInt32(count)))
        try ethtool(&strings)
        // Their state: ETHTOOL_GFEATURES {cmd, size, {available, requested, active, never_changed}[size]}.
        let blocks = (count + 31) / 32
        var state = [UInt8](repeating: 0, count: 8 + blocks * 16)
        state.replaceSubrange(0..<8, with: bytes(UInt32(ETHTOOL_GFEATURES)) + bytes(UInt32(blocks)))
        try ethtool(&state)
        var features = DeviceFeatures(requested: [], active: [])
        for index in 0..<count {
            let start = 12 + index * width
            let name = String(decoding: strings[start..<(start + width)].prefix { $0 != 0 }, as: UTF8.self)
            let block = 8 + (index / 32) * 16, bit = UInt32(1) << UInt32(index % 32)
            if state.loadNative(UInt32.self, at: block + 4) & bit != 0 { features.requested.insert(name) }
            if state.loadNative(UInt32.self, at: block + 8) & bit != 0 { features.active.insert(name) }
        }
        return features
    }

    private static func bytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        var out: [UInt8] = []
        out.appendNative(value)
        return out
    }
}
