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

    /// The words, or an empty array for a blank or comment line.
    static func split(_ line: Substring) throws(Problem) -> [String] {
        var words: [String] = []
        var word: String?
        var characters = line.makeIterator()
        while let character = characters.next() {
            switch character {
            case " ", "\t", "\r":
                if let finished = word { words.append(finished) }
                word = nil
            case "#" where word == nil:
                return words
            case "'":
                var text = word ?? ""
                while true {
                    guard let next = characters.next() else { throw .unterminated("'") }
                    if next == "'" { break }
                    text.append(next)
                }
                word = text
            case "\"":
                var text = word ?? ""
                while true {
                    guard let next = characters.next() else { throw .unterminated("\"") }
                    if next == "\"" { break }
                    if next == "\\" {
                        guard let escaped = characters.next() else { throw .unterminated("\"") }
                        if !"\\\"$`".contains(escaped) { text.append("\\") }
                        text.append(escaped)
                    } else {
                        text.append(next)
                    }
                }
                word = text
            case "\\":
                guard let escaped = characters.next() else { throw .trailingBackslash }
                word = (word ?? "") + String(escaped)
            default:
                word = (word ?? "") + String(character)
            }
        }
        if let finished = word { words.append(finished) }
        return words
    }
}
