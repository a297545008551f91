/// Splits an option's value into the arguments of another program, as a POSIX shell splits words.
///
/// `--ssh-args="-F cfg -o 'ProxyJump a b'"` gives `["-F", "cfg", "-o", "ProxyJump a b"]`. Single
/// quotes keep everything, double quotes keep all but `\"` and `\\`, and a backslash outside quotes
/// keeps the next character. Nothing is expanded: no variables, globs or `~`.
public enum ShellWords {
    public struct UnterminatedQuote: Error, Equatable, CustomStringConvertible {
        public let text: String
        public var description: String { "unterminated quote in \"\(text)\"" }
    }

    public static func split(_ text: String) throws -> [String] {
        var words: [String] = []
        var word = ""
        var inWord = false
        var iterator = text.makeIterator()
        while let character = iterator.next() {
            switch character {
            case " ", "\t", "\n":
                if inWord { words.append(word) }
                word = ""
                inWord = false
            case "'":
                inWord = true
                while true {
                    guard let next = iterator.next() else { throw UnterminatedQuote(text: text) }
                    if next == "'" { break }
                    word.append(next)
                }
            case "\"":
                inWord = true
                while true {
                    guard let next = iterator.next() else { throw UnterminatedQuote(text: text) }
                    if next == "\"" { break }
                    if next == "\\" {
                        guard let escaped = iterator.next() else { throw UnterminatedQuote(text: text) }
                        if escaped != "\"" && escaped != "\\" { word.append("\\") }
                        word.append(escaped)
                    } else {
                        word.append(next)
                    }
                }
            case "\\":
                inWord = true
                if let next = iterator.next() { word.append(next) }
            default:
                inWord = true
                word.append(character)
            }
        }
        if inWord { words.append(word) }
        return words
    }

    /// Quotes `word` for a POSIX shell (the remote command of ssh is read by the remote shell).
    public static func quote(_ word: String) -> String {
        let safe = word.allSatisfy { $0.isLetter || $0.isNumber || "/._-=:,@+%".contains($0) }
        if safe && !word.isEmpty { return word }
        return "'" + word.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }
}
