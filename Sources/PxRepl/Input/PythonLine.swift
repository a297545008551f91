/// What can be told about a line of Python without asking the home engine.
///
/// Asking the home engine whether a cell is complete costs a round trip per line. For most lines
/// the answer is certain from the characters alone, and the engine is then asked nothing.
public enum PythonLine {
    /// Whether `code` is one line that the home engine would certainly not call incomplete: its
    /// brackets close, no string or line continuation stays open, and nothing at the top level
    /// can open a block (`:`) or start a decorator (`@`). False means "ask the engine", not
    /// "incomplete".
    ///
    /// Strings are skipped with their escapes; triple quotes and f-strings (whose braces may hold
    /// quotes) are left to the engine.
    public static func isCertainlyComplete(_ code: String) -> Bool {
        var depth = 0
        var quote: UInt8?
        var isEscaped = false
        var previous: UInt8 = 0
        var beforePrevious: UInt8 = 0
        let bytes = Array(code.utf8)
        guard let first = bytes.first, first != 0x20, first != 0x09 else { return false }
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
                    quote = nil
                }
                continue
            }
            switch byte {
            case 0x0A, 0x0D, 0x0C:  // more than one line
                return false
            case 0x22, 0x27:  // " '
                let isTriple = index + 2 < bytes.count && bytes[index + 1] == byte && bytes[index + 2] == byte
                if isTriple || isFormatPrefix(previous, beforePrevious) { return false }
                quote = byte
            case 0x23:  // '#': the rest is a comment
                return depth == 0
            case 0x28, 0x5B, 0x7B:  // ( [ {
                depth += 1
            case 0x29, 0x5D, 0x7D:  // ) ] }
                depth -= 1
                if depth < 0 { return false }
            case 0x3A, 0x40:  // : @
                if depth == 0 { return false }
            case 0x5C:  // a line continuation, or a stray backslash
                return false
            default:
                break
            }
        }
        return depth == 0 && quote == nil
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
