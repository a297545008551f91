/// Whitespace-separated words of a magic line, with access to the raw rest of the line.
struct Words {
    struct Word {
        var text: String
        var start: String.Index
    }

    struct Flag {
        var name: String
        /// The value given as `--flag=value`.
        var value: String?
    }

    private let line: String
    private var position: String.Index

    init(_ line: String) {
        self.line = line
        self.position = line.startIndex
    }

    mutating func next() -> Word? {
        skipSpaces()
        guard position < line.endIndex else { return nil }
        let start = position
        while position < line.endIndex && !line[position].isWhitespace { position = line.index(after: position) }
        return Word(text: String(line[start..<position]), start: start)
    }

    /// The next word if it is a flag (`-x`, `--name`, `--name=value`), without consuming it.
    mutating func peekFlag() -> Flag? {
        var copy = self
        guard let word = copy.next(), word.text.hasPrefix("-"), word.text.count > 1,
            !(word.text.dropFirst().first?.isNumber ?? false)
        else { return nil }
        if let equals = word.text.firstIndex(of: "="), word.text.hasPrefix("--") {
            return Flag(name: String(word.text[..<equals]), value: String(word.text[word.text.index(after: equals)...]))
        }
        return Flag(name: word.text, value: nil)
    }

    /// The value word after a flag.
    mutating func value(for flag: String, _ error: (String) -> MagicError) throws -> String {
        guard let word = next() else { throw error("\(flag) needs a value") }
        return word.text
    }

    /// The unparsed rest of the line, trimmed.
    var rest: String {
        String(line[position...]).trimmingSpaces
    }

    var remainingWords: [String] {
        var copy = self
        var words: [String] = []
        while let word = copy.next() { words.append(word.text) }
        return words
    }

    mutating func expectEnd(_ error: (String) -> MagicError) throws {
        if let extra = next() { throw error("unexpected '\(extra.text)'") }
    }

    private mutating func skipSpaces() {
        while position < line.endIndex && line[position].isWhitespace { position = line.index(after: position) }
    }
}

/// Splits Python-ish text at whitespace outside brackets and quotes: `lambda x: x*x range(10)`
/// is `["lambda", "x:", "x*x", "range(10)"]`, and `f(a, b)` stays one word.
enum TopLevel {
    static func split(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        var depth = 0
        var quote: Character?
        var escaped = false
        for character in text {
            if let open = quote {
                current.append(character)
                if escaped {
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == open {
                    quote = nil
                }
                continue
            }
            switch character {
            case "'", "\"": quote = character
            case "(", "[", "{": depth += 1
            case ")", "]", "}": depth = max(0, depth - 1)
            default: break
            }
            if character.isWhitespace && depth == 0 {
                if !current.isEmpty { words.append(current) }
                current = ""
            } else {
                current.append(character)
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }
}

extension StringProtocol {
    /// Whether the text is a Python identifier (ASCII rules, plus any non-ASCII letter).
    var isIdentifier: Bool {
        guard let first = first, first == "_" || first.isLetter else { return false }
        return allSatisfy { $0 == "_" || $0.isLetter || $0.isNumber }
    }
}
