import PxPlatform

#if canImport(Glibc)
import Glibc
#endif

/// Writes a session as a transcript (`.pxt`): each input after its `In [n]:` prompt, then its output.
///
/// Continuation lines of an input start with `...: `. Colour escapes are removed, so transcripts
/// compare equal whatever the terminal.
final class TranscriptWriter {
    private let descriptor: FileDescriptor
    let path: String

    /// - Parameter engineCount: written in a header, so `--check` starts as many engines.
    init(path: String, engineCount: Int) throws {
        self.path = path
        descriptor = try FileDescriptor.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
        try? descriptor.writeAll(TranscriptFormat.engineCountHeader + "\(engineCount)\n")
    }

    deinit { descriptor.close() }

    func input(_ cell: String, number: Int, prefix: String? = nil) {
        let prompt = prefix ?? "In [\(number)]: "
        let lines = cell.split(separator: "\n", omittingEmptySubsequences: false)
        var text = ""
        for (index, line) in lines.enumerated() {
            text += (index == 0 ? prompt : TranscriptFormat.continuation) + line + "\n"
        }
        try? descriptor.writeAll(text)
    }

    func output(_ text: String) {
        try? descriptor.writeAll(TranscriptFormat.stripEscapes(text))
    }

}

/// The shape of transcripts, shared by the writer and the checker.
public enum TranscriptFormat {
    public static let continuation = "   ...: "
    /// The header line that says how many engines a transcript was recorded with.
    public static let engineCountHeader = "# recorded by pxsh with -n "

    /// The engine count a transcript was recorded with, if it says.
    public static func engineCount(in text: String) -> Int? {
        for line in text.split(separator: "\n").prefix(20) where line.hasPrefix(engineCountHeader) {
            return Int(line.dropFirst(engineCountHeader.count))
        }
        return nil
    }

    /// Removes ANSI colour escapes.
    public static func stripEscapes(_ text: String) -> String {
        guard text.contains("\u{1B}") else { return text }
        var result = ""
        var inEscape = false
        for scalar in text.unicodeScalars {
            if inEscape {
                if (0x40...0x7E).contains(scalar.value) && scalar != "[" { inEscape = false }
            } else if scalar == "\u{1B}" {
                inEscape = true
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
