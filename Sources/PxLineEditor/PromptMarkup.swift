/// Marks the terminal escape sequences in a prompt so that libedit does not count them as columns.
///
/// libedit places the cursor by counting the prompt's characters. A colour escape such as `ESC[32m` takes no
/// column, so it has to sit between `RL_PROMPT_START_IGNORE` (`\u{1}`) and `RL_PROMPT_END_IGNORE` (`\u{2}`): libedit
/// then writes it to the terminal without counting it.
enum PromptMarkup {
    /// The readline marker that starts a run of invisible prompt characters.
    static let startInvisible: Unicode.Scalar = "\u{1}"

    /// The readline marker that ends a run of invisible prompt characters.
    static let endInvisible: Unicode.Scalar = "\u{2}"

    private static let escape: Unicode.Scalar = "\u{1B}"
    private static let bell: Unicode.Scalar = "\u{7}"

    /// Returns `prompt` with each run of escape sequences between the readline markers.
    ///
    /// Recognises CSI sequences (`ESC [` … final byte, which covers colours and cursor moves), OSC sequences
    /// (`ESC ]` … `BEL` or `ESC \`, such as window titles) and the short `ESC` sequences. A prompt that already
    /// contains a marker is returned unchanged: its author marked it.
    static func markingEscapeSequences(in prompt: String) -> String {
        let scalars = Array(prompt.unicodeScalars)
        guard scalars.contains(escape), !scalars.contains(startInvisible), !scalars.contains(endInvisible) else {
            return prompt
        }
        var marked = String.UnicodeScalarView()
        var index = 0
        while index < scalars.count {
            guard scalars[index] == escape else {
                marked.append(scalars[index])
                index += 1
                continue
            }
            marked.append(startInvisible)
            while index < scalars.count && scalars[index] == escape {
                let end = endOfEscapeSequence(in: scalars, startingAt: index)
                marked.append(contentsOf: scalars[index..<end])
                index = end
            }
            marked.append(endInvisible)
        }
        return String(marked)
    }

    /// Returns the index just past the escape sequence that starts at `start`.
    private static func endOfEscapeSequence(in scalars: [Unicode.Scalar], startingAt start: Int) -> Int {
        var index = start + 1
        guard index < scalars.count else { return index }
        switch scalars[index] {
        case "[":
            // CSI: parameter and intermediate bytes (0x20-0x3F), then one final byte (0x40-0x7E).
            index += 1
            while index < scalars.count && (0x20...0x3F).contains(scalars[index].value) {
                index += 1
            }
            return min(index + 1, scalars.count)
        case "]":
            // OSC: up to BEL or the string terminator ESC \.
            index += 1
            while index < scalars.count {
                if scalars[index] == bell {
                    return index + 1
                }
                if scalars[index] == escape && index + 1 < scalars.count && scalars[index + 1] == "\\" {
                    return index + 2
                }
                index += 1
            }
            return index
        default:
            // ESC, intermediate bytes (0x20-0x2F), one final byte: `ESC ( B`, `ESC 7`.
            while index < scalars.count && (0x20...0x2F).contains(scalars[index].value) {
                index += 1
            }
            return min(index + 1, scalars.count)
        }
    }
}
