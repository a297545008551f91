/// What can be told about a line of Python without asking the home engine.
///
/// Asking the home engine whether a cell is complete costs a round trip per line. For most lines
/// the answer is certain from the characters alone, and the engine is then asked nothing.
public enum PythonLine {
    /// Whether `code` is one line that the home engine would certainly not call incomplete: its
    /// brackets close, no string or line continuation stays open, and it cannot be the header of
    /// a block: it starts neither with a decorator (`@`) nor with a keyword of a compound
    /// statement (`if`, `def`, `match`...). A `:` elsewhere (`f = lambda v: v`, `x: int = 1`)
    /// opens nothing. False means "ask the engine", not "incomplete".
    ///
    /// Strings are skipped with their escapes. An f-string counts as closed when the braces
    /// between its quotes balance: a replacement field that holds the string's own quote
    /// (Python 3.12) leaves them unbalanced, and the engine is asked. Triple quotes are left to
    /// the engine.
    public static func isCertainlyComplete(_ code: String) -> Bool {
        var depth = 0
        var quote: UInt8?
        var isEscaped = false
        /// The balance of `{` and `}` in the f-string being read (nil: not an f-string).
        var fieldDepth: Int?
        var previous: UInt8 = 0
        var beforePrevious: UInt8 = 0
        let bytes = Array(code.utf8)
        guard let first = bytes.first, first != 0x20, first != 0x09, first != 0x40 else { return false }
        guard !mayOpenBlock(firstWordOf: bytes) else { return false }
        for (index, byte) in bytes.enumerated() {
            defer {
                beforePrevious = previous
                previous = byte
            }
            if let open = quote {
                if isEscaped {
                    isEscaped = false
                } else if byte == 0x5C {  // backslash
                    isEscaped = true
                } else if byte == open {
                    if fieldDepth.map({ $0 != 0 }) ?? false { return false }
                    quote = nil
                    fieldDepth = nil
                } else if byte == 0x7B {  // {
                    fieldDepth? += 1
                } else if byte == 0x7D {  // }
                    fieldDepth? -= 1
                }
                continue
            }
            switch byte {
            case 0x0A, 0x0D, 0x0C:  // more than one line
                return false
            case 0x22, 0x27:  // " '
                let isTriple = index + 2 < bytes.count && bytes[index + 1] == byte && bytes[index + 2] == byte
                if isTriple { return false }
                quote = byte
                fieldDepth = isFormatPrefix(previous, beforePrevious) ? 0 : nil
            case 0x23:  // '#': the rest is a comment
                return depth == 0
            case 0x28, 0x5B, 0x7B:  // ( [ {
                depth += 1
            case 0x29, 0x5D, 0x7D:  // ) ] }
                depth -= 1
                if depth < 0 { return false }
            case 0x5C:  // a line continuation, or a stray backslash
                return false
            default:
                break
            }
        }
        return depth == 0 && quote == nil
    }

    /// The keywords that start a compound statement, whose line may open a block (`match` and
    /// `case` are soft keywords: a line that starts with them as a name is asked about too).
    private static let blockKeywords: Set<String> = [
        "if", "elif", "else", "for", "while", "try", "except", "finally", "with", "def", "class", "async",
        "match", "case",
    ]

    /// Whether the line's first word is a keyword that starts a compound statement.
    private static func mayOpenBlock(firstWordOf bytes: [UInt8]) -> Bool {
        let word = bytes.prefix { byte in
            (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x30 && byte <= 0x39)
                || byte == 0x5F || byte >= 0x80
        }
        return blockKeywords.contains(String(decoding: word, as: UTF8.self))
    }

    /// Whether `code` certainly holds no statement that sets engines up (an import, a `def` or
    /// `class`, an assignment), so that the home engine need not be asked for its setup part after
    /// every `%px` (a round trip, and a parse, on the way to the next prompt). False means "ask".
    public static func certainlyHoldsNoSetup(_ code: String) -> Bool {
        !code.contains("=") && !code.contains("import") && !code.contains("def") && !code.contains("class")
    }

    /// Whether the letters before a quote make it an f-string (`f"`, `rf'`, `Fr"`).
    private static func isFormatPrefix(_ previous: UInt8, _ beforePrevious: UInt8) -> Bool {
        func isF(_ byte: UInt8) -> Bool { byte == 0x66 || byte == 0x46 }
        func isR(_ byte: UInt8) -> Bool { byte == 0x72 || byte == 0x52 }
        return isF(previous) || (isR(previous) && isF(beforePrevious))
    }
}
