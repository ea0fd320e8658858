import SystemPackage
import TapSystem
import TapDataPath
/// A JSON value with ordered object keys, so output is stable byte for byte.
/// Everything tapctl writes as JSON goes through it: `--json`, batch lines,
/// and the header `send` writes, so every string is escaped one way.
public enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int64)
    /// A number as it was written, kept byte for byte (a value read and
    /// passed on, such as a prevResult's unknown fields, is never rounded).
    case number(String)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func == (lhs: JSON, rhs: JSON) -> Bool { lhs.text == rhs.text }

    /// An integer, or null for nil.
    public static func optional<T: BinaryInteger>(_ value: T?) -> JSON { value.map { .int(Int64($0)) } ?? .null }
    /// A string, or null for nil.
    public static func optional(_ value: String?) -> JSON { value.map { .string($0) } ?? .null }

    /// Compact serialization, one line.
    public var text: String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .int(let value): out += String(value)
        case .number(let text): out += text
        case .string(let value): JSON.quote(value, into: &out)
        case .array(let items):
            out += "["
            for (position, item) in items.enumerated() {
                if position > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (position, (key, value)) in members.enumerated() {
                if position > 0 { out += "," }
                JSON.quote(key, into: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }

    private static func quote(_ string: String, into out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{0}"..."\u{1f}", "\u{7f}":
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

// Reading, without Foundation: RFC 8259, objects keeping their key order,
// numbers their text. Depth is bounded, so no input can exhaust the stack.
extension JSON {
    /// Why a text is not JSON: what was expected, at which byte.
    public struct ParseError: Error, Equatable, Sendable {
        /// The byte offset where the text stopped being JSON.
        public let offset: Int
        /// What should have been there.
        public let expected: String
    }

    /// The value `text` holds, which must be all of it (white space aside).
    public static func parse(_ text: [UInt8]) throws(ParseError) -> JSON {
        var reader = Reader(bytes: text)
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.position == text.count else { throw reader.error("the end of the text") }
        return value
    }

    /// The member `key` of an object (the last, if given twice); nil otherwise.
    public subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.0 == key }?.1
    }

    /// The string, if this is one.
    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// The number as an integer, if this is an integer that fits.
    public var integerValue: Int64? {
        switch self {
        case .int(let value): return value
        case .number(let text): return Int64(text)
        default: return nil
        }
    }

    /// The members of an object, in order.
    public var members: [(String, JSON)]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The elements of an array.
    public var elements: [JSON]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// This object with `key` set to `value`: replaced in place if present, else appended.
    public func setting(_ key: String, _ value: JSON) -> JSON {
        guard case .object(var members) = self else { return self }
        if let index = members.lastIndex(where: { $0.0 == key }) {
            members[index].1 = value
        } else {
            members.append((key, value))
        }
        return .object(members)
    }

    /// This object without `key`.
    public func removing(_ key: String) -> JSON {
        guard case .object(let members) = self else { return self }
        return .object(members.filter { $0.0 != key })
    }

    private struct Reader {
        let bytes: [UInt8]
        var position = 0

        func error(_ expected: String) -> ParseError { ParseError(offset: position, expected: expected) }

        mutating func skipSpace() {
            while position < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[position]) { position += 1 }
        }

        mutating func value(depth: Int) throws(ParseError) -> JSON {
            guard depth < 512 else { throw error("less nesting") }
            skipSpace()
            guard position < bytes.count else { throw error("a value") }
            switch bytes[position] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            default: return try number()
            }
        }

        mutating func literal(_ word: String, _ value: JSON) throws(ParseError) -> JSON {
            let utf8 = Array(word.utf8)
            guard bytes.count - position >= utf8.count, Array(bytes[position..<position + utf8.count]) == utf8 else {
                throw error(word)
            }
            position += utf8.count
            return value
        }

        mutating func object(depth: Int) throws(ParseError) -> JSON {
            position += 1
            var members: [(String, JSON)] = []
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw error("a key in quotes") }
                let key = try string()
                skipSpace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw error("':'") }
                position += 1
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
                guard position < bytes.count else { throw error("',' or '}'") }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                guard bytes[position] == UInt8(ascii: "}") else { throw error("',' or '}'") }
                position += 1
                return .object(members)
            }
        }

        mutating func array(depth: Int) throws(ParseError) -> JSON {
            position += 1
            var elements: [JSON] = []
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            while true {
                elements.append(try value(depth: depth + 1))
                skipSpace()
                guard position < bytes.count else { throw error("',' or ']'") }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                guard bytes[position] == UInt8(ascii: "]") else { throw error("',' or ']'") }
                position += 1
                return .array(elements)
            }
        }

        mutating func number() throws(ParseError) -> JSON {
            let start = position
            func digits() -> Int {
                let from = position
                while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { position += 1 }
                return position - from
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: "-") { position += 1 }
            let integerStart = position
            guard digits() > 0 else { throw error("a value") }
            if bytes[integerStart] == UInt8(ascii: "0"), position - integerStart > 1 { throw error("no leading zero") }
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                guard digits() > 0 else { throw error("a digit after '.'") }
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
                guard digits() > 0 else { throw error("an exponent") }
            }
            return .number(String(decoding: bytes[start..<position], as: UTF8.self))
        }

        mutating func string() throws(ParseError) -> String {
            position += 1
            var scalars = String.UnicodeScalarView()
            var run = position
            func flush() {
                scalars.append(contentsOf: String(decoding: bytes[run..<position], as: UTF8.self).unicodeScalars)
            }
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    flush()
                    position += 1
                    return String(scalars)
                }
                guard byte >= 0x20 else { throw error("no control character in a string") }
                guard byte == UInt8(ascii: "\\") else { position += 1; continue }
                flush()
                position += 1
                guard position < bytes.count else { throw error("an escape") }
                let escape = bytes[position]
                position += 1
                switch escape {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{8}")
                case UInt8(ascii: "f"): scalars.append("\u{c}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xd800..<0xdc00).contains(code) {
                        // A surrogate pair; a lone half becomes U+FFFD.
                        if bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") {
                            position += 2
                            let low = try hex4()
                            code = (0xdc00..<0xe000).contains(low) ? 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00) : 0xfffd
                        } else {
                            code = 0xfffd
                        }
                    }
                    scalars.append(Unicode.Scalar(code) ?? "\u{fffd}")
                default:
                    throw error("a known escape")
                }
                run = position
            }
            throw error("the closing quote")
        }

        mutating func hex4() throws(ParseError) -> UInt32 {
            guard bytes.count - position >= 4 else { throw error("four hex digits") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[position]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw error("four hex digits")
                }
                value = value << 4 | digit
                position += 1
            }
            return value
        }
    }
}
