/// Splits a batch line into words the way a shell splits simple words: white
/// space between words, '...' taken literally, "..." with \\ \" \$ \` escapes,
/// a backslash outside quotes escaping the next character, and a word that
/// starts with # beginning a comment. No expansion of any kind.
enum BatchWords {
    enum Problem: Error, Equatable, CustomStringConvertible {
        case unterminated(Character)
        case trailingBackslash

        var description: String {
            switch self {
            case .unterminated(let quote): return "no closing \(quote) quote"
            case .trailingBackslash: return "the line ends with a backslash"
            }
        }
    }

    /// `word` as `split` reads it back: as it is when it holds only characters
    /// no shell treats specially, else in single quotes ('\'' for a quote).
    static func quote(_ word: String) -> String {
        let plain = !word.isEmpty && word.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte)
                || Array("%+,-./:=@_".utf8).contains(byte)
        }
        return plain ? word : "'" + word.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }

    /// The words, or an empty array for a blank or comment line. Works on the
    /// UTF-8 bytes (every special character is ASCII, so a multi-byte
    /// character never matches one): splitting by Character would pay for
    /// grapheme breaking on every line of a batch.
    static func split(_ line: Substring) throws(Problem) -> [String] {
        var words: [String] = []
        var word: [UInt8]?
        var bytes = line.utf8.makeIterator()
        func finish() {
            if let finished = word { words.append(String(decoding: finished, as: UTF8.self)) }
            word = nil
        }
        while let byte = bytes.next() {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                finish()
            case UInt8(ascii: "#") where word == nil:
                return words
            case UInt8(ascii: "'"):
                var text = word ?? []
                while true {
                    guard let next = bytes.next() else { throw .unterminated("'") }
                    if next == UInt8(ascii: "'") { break }
                    text.append(next)
                }
                word = text
            case UInt8(ascii: "\""):
                var text = word ?? []
                while true {
                    guard let next = bytes.next() else { throw .unterminated("\"") }
                    if next == UInt8(ascii: "\"") { break }
                    if next == UInt8(ascii: "\\") {
                        guard let escaped = bytes.next() else { throw .unterminated("\"") }
                        if !Array("\\\"$`".utf8).contains(escaped) { text.append(next) }
                        text.append(escaped)
                    } else {
                        text.append(next)
                    }
                }
                word = text
            case UInt8(ascii: "\\"):
                guard let escaped = bytes.next() else { throw .trailingBackslash }
                word = word ?? []
                word?.append(escaped)
            default:
                word = word ?? []
                word?.append(byte)
            }
        }
        finish()
        return words
    }
}
