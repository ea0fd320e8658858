import SystemPackage
import TapSystem
/// A network interface name or `%d` template, checked the way the kernel's
/// dev_valid_name() and dev_alloc_name() check it, before any system call.
public struct InterfaceName: Hashable, Sendable, CustomStringConvertible {
    /// The name as given: 1 to 15 bytes.
    public let value: String
    /// True for a template such as "tap%d", which the kernel numbers.
    public let isTemplate: Bool

    /// A name the caller knows to be valid (a constant such as "tap0"), not a template.
    package init(checked value: String) {
        self.value = value
        isTemplate = false
    }

    /// IFNAMSIZ less the terminating NUL.
    public static let maxLength = 15

    /// What is wrong with a name, carried by `TapError.invalidName`; read after "the name".
    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        case empty, tooLong(Int), dotName, forbiddenCharacter(String), notUTF8, badTemplate, templateNotAllowed

        public var description: String {
            switch self {
            case .empty: return "is empty"
            case .tooLong(let n):
                return "is \(n) bytes; at most \(InterfaceName.maxLength) fit (the kernel would cut it short)"
            case .dotName: return "cannot be \".\" or \"..\""
            case .forbiddenCharacter(let what): return "contains \(what)"
            case .notUTF8: return "is not valid UTF-8"
            case .badTemplate: return "is not a valid template: use one %d and no other %"
            case .templateNotAllowed: return "is a template; name an existing device"
            }
        }
    }

    /// Validates `text`; with `allowTemplate` false a '%' is refused, since no
    /// existing device can have one in its name. Throws `TapError.invalidName`.
    public init(_ text: String, allowTemplate: Bool = true) throws(TapError) {
        do {
            isTemplate = try Self.check(text, allowTemplate: allowTemplate)
        } catch {
            throw .invalidName(text, error)
        }
        value = text
    }

    /// Whether `text` is a template; throws what is wrong with it.
    private static func check(_ text: String, allowTemplate: Bool) throws(Problem) -> Bool {
        let bytes = Array(text.utf8)
        if bytes.isEmpty { throw .empty }
        if text.unicodeScalars.contains("\u{FFFD}") { throw .notUTF8 }
        if bytes.count > Self.maxLength { throw .tooLong(bytes.count) }
        if text == "." || text == ".." { throw .dotName }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "/"): throw .forbiddenCharacter("'/'")
            case UInt8(ascii: ":"): throw .forbiddenCharacter("':'")
            case 0x20, 0x09...0x0d: throw .forbiddenCharacter("white space")
            case 0x00...0x1f, 0x7f: throw .forbiddenCharacter("a control character")
            // The kernel's isspace() counts Latin-1 NBSP as white space, so a UTF-8
            // name holding the byte 0xA0 (e.g. "à") is refused there too.
            case 0xa0: throw .forbiddenCharacter("the byte 0xA0, which the kernel takes for white space")
            default: continue
            }
        }
        let percents = bytes.indices.filter { bytes[$0] == UInt8(ascii: "%") }
        if let first = percents.first {
            guard allowTemplate else { throw .templateNotAllowed }
            let isD = first + 1 < bytes.count && bytes[first + 1] == UInt8(ascii: "d")
            if percents.count != 1 || !isD { throw .badTemplate }
        }
        return !percents.isEmpty
    }

    public var description: String { value }

    /// Names are equal when their bytes are, as the kernel compares them (not
    /// by Unicode canonical equivalence, as Swift's String does).
    public static func == (lhs: InterfaceName, rhs: InterfaceName) -> Bool {
        lhs.isTemplate == rhs.isTemplate && lhs.value.utf8.elementsEqual(rhs.value.utf8)
    }

    /// Hashes the bytes, as `==` compares them.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(NameBytes(value))
    }

    /// Whether this name is `other`'s, byte for byte.
    public func names(_ other: String) -> Bool { value.utf8.elementsEqual(other.utf8) }
}

/// A device name as the kernel keeps it, bytes, for comparing and hashing:
/// Swift's String compares by canonical equivalence, under which "é" (NFC)
/// and "e" with U+0301 (NFD) are one string, while the kernel has two devices.
package struct NameBytes: Hashable {
    package let bytes: [UInt8]

    package init(_ name: String) {
        bytes = Array(name.utf8)
    }
}
