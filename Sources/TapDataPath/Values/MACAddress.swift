import Glibc
import SystemPackage
import TapSystem

/// An Ethernet address, as `--mac` takes it.
public struct MACAddress: Equatable, Sendable, CustomStringConvertible {
    /// The six bytes, as written left to right.
    public let bytes: [UInt8]

    /// Why a text is no address a device can take; carried by `TapError.invalidMAC`.
    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        case malformed(String), multicast(String), zero

        public var description: String {
            switch self {
            case .malformed(let text): return "'\(text)' is not a MAC address (six hex bytes joined by ':' or '-')"
            case .multicast(let text): return "\(text) is a multicast address; a device needs a unicast one"
            case .zero: return "00:00:00:00:00:00 cannot be a device's address"
            }
        }
    }

    /// "aa:bb:cc:dd:ee:ff" (also with '-'), unicast and not all zero. Throws
    /// `TapError.invalidMAC`.
    public init(parsing text: String) throws(TapError) {
        do {
            bytes = try Self.parse(text)
        } catch {
            throw .invalidMAC(error)
        }
    }

    private static func parse(_ text: String) throws(Problem) -> [UInt8] {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).count == 6
            ? text.split(separator: ":", omittingEmptySubsequences: false)
            : text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 6 else { throw .malformed(text) }
        var bytes: [UInt8] = []
        for part in parts {
            guard (1...2).contains(part.count), part.allSatisfy(\.isHexDigit), let byte = UInt8(part, radix: 16) else {
                throw .malformed(text)
            }
            bytes.append(byte)
        }
        if bytes[0] & 1 == 1 { throw .multicast(text) }
        if bytes.allSatisfy({ $0 == 0 }) { throw .zero }
        return bytes
    }

    package init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// fe:ff:ff:ff:ff:ff, the highest unicast address: a bridge, which takes
    /// the lowest address of its ports, never takes a port's that has it.
    public static let bridgePort = MACAddress(bytes: [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff])

    /// A random locally administered unicast address (x2:, x6:, xa:, xe:).
    public static func random() -> MACAddress {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<6).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[0] = (bytes[0] & 0xfe) | 0x02
        return MACAddress(bytes: bytes)
    }

    public var description: String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
    }
}
