import SystemPackage
import TapSystem
import TapDataPath
/// Netlink message and attribute encoding and parsing (RFC 3549, linux/netlink.h):
/// pure functions over bytes, so malformed input is tested without a socket.
enum Netlink {
    static let headerLength = 16
    static let attributeHeaderLength = 4
    /// NLA_F_NESTED and NLA_F_NET_BYTEORDER live in the type's top bits.
    static let attributeTypeMask: UInt16 = 0x3fff

    static func align(_ length: Int) -> Int { (length + 3) & ~3 }

    struct Message: Equatable, Sendable {
        var type: UInt16
        var flags: UInt16
        var sequence: UInt32
        var port: UInt32
        var payload: [UInt8]

        init(type: UInt16, flags: UInt16, sequence: UInt32, port: UInt32 = 0, payload: [UInt8]) {
            self.type = type
            self.flags = flags
            self.sequence = sequence
            self.port = port
            self.payload = payload
        }

        /// The message as the kernel expects it: header, payload, padding to 4 bytes.
        var encoded: [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(Netlink.align(Netlink.headerLength + payload.count))
            out.appendNative(UInt32(Netlink.headerLength + payload.count))
            out.appendNative(type)
            out.appendNative(flags)
            out.appendNative(sequence)
            out.appendNative(port)
            out += payload
            out.padTo4()
            return out
        }
    }

    struct Attribute: Equatable, Sendable {
        var type: UInt16
        var payload: [UInt8]

        init(type: UInt16, payload: [UInt8]) {
            self.type = type
            self.payload = payload
        }

        init(type: UInt16, string: String) {
            self.init(type: type, payload: Array(string.utf8) + [0])
        }

        init(type: UInt16, uint32: UInt32) {
            var bytes: [UInt8] = []
            bytes.appendNative(uint32)
            self.init(type: type, payload: bytes)
        }

        init(nested type: UInt16, _ children: [Attribute]) {
            self.init(type: type | 0x8000, payload: Netlink.encode(children))
        }

        var string: String? {
            guard let end = payload.firstIndex(of: 0) else { return nil }
            return String(decoding: payload[..<end], as: UTF8.self)
        }

        var uint8: UInt8? { payload.count == 1 ? payload[0] : nil }

        var uint32: UInt32? { payload.count == 4 ? payload.loadNative(UInt32.self, at: 0) : nil }
    }

    enum ParseError: Error, Equatable, Sendable {
        case truncated(at: Int)
        case badLength(at: Int)
    }

    static func encode(_ attributes: [Attribute]) -> [UInt8] {
        var out: [UInt8] = []
        for attribute in attributes {
            out.appendNative(UInt16(attributeHeaderLength + attribute.payload.count))
            out.appendNative(attribute.type)
            out += attribute.payload
            out.padTo4()
        }
        return out
    }

    /// Splits a datagram into messages; a length that runs past the end or below a header is an error.
    static func messages(in bytes: [UInt8]) throws(ParseError) -> [Message] {
        var out: [Message] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= headerLength else { throw .truncated(at: offset) }
            let length = Int(bytes.loadNative(UInt32.self, at: offset))
            guard length >= headerLength else { throw .badLength(at: offset) }
            guard length <= bytes.count - offset else { throw .truncated(at: offset) }
            out.append(Message(
                type: bytes.loadNative(UInt16.self, at: offset + 4),
                flags: bytes.loadNative(UInt16.self, at: offset + 6),
                sequence: bytes.loadNative(UInt32.self, at: offset + 8),
                port: bytes.loadNative(UInt32.self, at: offset + 12),
                payload: Array(bytes[(offset + headerLength)..<(offset + length)])))
            offset += min(align(length), bytes.count - offset)
        }
        return out
    }

    /// Splits an attribute stream (the part after a fixed family header) into attributes.
    static func attributes(in bytes: ArraySlice<UInt8>) throws(ParseError) -> [Attribute] {
        var out: [Attribute] = []
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            guard bytes.endIndex - offset >= attributeHeaderLength else { throw .truncated(at: offset) }
            let length = Int(bytes.loadNative(UInt16.self, at: offset))
            guard length >= attributeHeaderLength else { throw .badLength(at: offset) }
            guard length <= bytes.endIndex - offset else { throw .truncated(at: offset) }
            let type = bytes.loadNative(UInt16.self, at: offset + 2) & attributeTypeMask
            out.append(Attribute(type: type, payload: Array(bytes[(offset + attributeHeaderLength)..<(offset + length)])))
            offset += min(align(length), bytes.endIndex - offset)
        }
        return out
    }

    /// The errno of an NLMSG_ERROR payload: 0 is an acknowledgement.
    static func errorCode(of message: Message) throws(ParseError) -> Int32 {
        guard message.payload.count >= 4 else { throw .truncated(at: 0) }
        return Int32(bitPattern: message.payload.loadNative(UInt32.self, at: 0))
    }
}

extension Array where Element == UInt8 {
    mutating func padTo4() {
        append(contentsOf: repeatElement(0, count: Netlink.align(count) - count))
    }
}
