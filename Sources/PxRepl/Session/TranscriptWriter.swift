import PxPlatform

#if canImport(Glibc)
import Glibc
#endif

/// Writes a session as a transcript (`.pxt`): each input after its `In [n]:` prompt, then its output.
///
/// It takes transcript text: inputs as ``TranscriptFormat/input(_:number:prefix:)`` writes them, output
/// escaped line by line (``TranscriptOutputLines``, which the session runs once for this and for its
/// ``TranscriptHistory``). An input is written with the first output after it (or the next input), so
/// that the cell that stops the recording can leave itself out.
final class TranscriptWriter {
    private let descriptor: FileDescriptor
    let path: String
    private var pendingInput: String?

    /// - Parameter header: what the output depends on, written first, so `--check` can reproduce it.
    init(path: String, header: TranscriptHeader) throws {
        self.path = path
        descriptor = try FileDescriptor.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
        try? descriptor.writeAll(header.line + "\n")
    }

    deinit {
        flushInput()
        descriptor.close()
    }

    /// - Parameters:
    ///   - text: the input, as the transcript shows it;
    ///   - finished: the end of the output before it (its last line, which had no newline).
    func input(_ text: String, after finished: String) {
        flushInput()
        try? descriptor.writeAll(finished)
        pendingInput = text
    }

    /// - Parameter lines: escaped output lines (``TranscriptOutputLines``).
    func output(_ lines: String) {
        guard !lines.isEmpty else { return }
        flushInput()
        try? descriptor.writeAll(lines)
    }

    /// Writes transcript text as it is: the session before the recording began.
    func writeVerbatim(_ text: String) {
        try? descriptor.writeAll(text)
    }

    /// Leaves the latest input out, if no output has followed it yet.
    func dropPendingInput() {
        pendingInput = nil
    }

    private func flushInput() {
        guard let text = pendingInput else { return }
        pendingInput = nil
        try? descriptor.writeAll(text)
    }
}

/// The session so far as transcript text, so that `%record` starts its file with it, as IPython's `%logstart` does:
/// `--check` replays the file from a fresh session, and only the whole session gives the same output.
final class TranscriptHistory {
    /// Beyond this, the history is dropped (a flood of output), and a recording starts where it is begun.
    static let limit = 4 << 20

    /// The transcript text so far; nil once it outgrew ``limit``.
    private(set) var text: String? = ""
    private var currentCellStart = 0

    /// - Parameters: as ``TranscriptWriter/input(_:after:)``'s.
    func input(_ text: String, after finished: String) {
        append(finished)
        currentCellStart = self.text?.utf8.count ?? 0
        append(text)
    }

    /// Whether the history is still kept (it has not outgrown ``limit``).
    var isKept: Bool { text != nil }

    /// - Parameter lines: escaped output lines (``TranscriptOutputLines``).
    func output(_ lines: String) {
        append(lines)
    }

    /// Leaves the current cell out of the history (a `%record` cell is no part of the session it records).
    func dropCurrentCell() {
        guard let current = text else { return }
        text = String(decoding: current.utf8.prefix(currentCellStart), as: UTF8.self)
    }

    private func append(_ addition: String) {
        guard !addition.isEmpty, let count = text?.utf8.count else { return }
        if count + addition.utf8.count > Self.limit {
            text = nil
        } else {
            text?.append(addition)
        }
    }
}

/// The shape of transcripts, shared by the writer and the checker.
public enum TranscriptFormat {
    public static let continuation = "   ...: "

    /// An input as a transcript shows it: after its prompt, continuation lines after `...: `.
    static func input(_ cell: String, number: Int, prefix: String? = nil) -> String {
        let prompt = prefix ?? "In [\(number)]: "
        var text = ""
        for (index, line) in cell.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            text += (index == 0 ? prompt : continuation) + line + "\n"
        }
        return text
    }

    /// The mark before an output line that would read as something else (``escapedOutput(_:)``).
    public static let outputEscape = "\\"

    /// An output line as a transcript writes it: one that would read as an input, a continuation or a
    /// comment, or that starts with the mark itself, gets a `\` in front (`\In [7]: printed`), so that
    /// `--check` neither runs it nor skips it. Reading takes the mark off again.
    static func escapedOutput<Line: StringProtocol>(_ line: Line) -> String {
        let needsMark =
            line.hasPrefix(outputEscape) || line.hasPrefix(continuation) || line.trimmingSpaces == "...:"
            || Transcript.isComment(String(line)) || Prompt.parse(String(line)) != nil
        return needsMark ? outputEscape + line : String(line)
    }

    /// An expected output line as it was printed: without its mark, if it has one.
    static func unescapedOutput(_ line: String) -> String {
        line.hasPrefix(outputEscape) ? String(line.dropFirst()) : line
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

/// What a transcript's output depends on, in a header line that is also a comment:
/// `# pxsh transcript: engines=4 width=80 python=3.11`.
///
/// `pxsh run --check` starts as many engines (unless `-n` says otherwise) and renders at that
/// width; a different Python is reported, since tracebacks differ between versions.
public struct TranscriptHeader: Equatable, Sendable {
    public static let prefix = "# pxsh transcript:"
    /// The header of transcripts recorded before the header had fields.
    static let legacyPrefix = "# recorded by pxsh with -n "

    public var engines: Int?
    public var width: Int?
    /// `major.minor` of the engines' Python.
    public var python: String?

    public init(engines: Int? = nil, width: Int? = nil, python: String? = nil) {
        self.engines = engines
        self.width = width
        self.python = python.map(TranscriptHeader.majorMinor)
    }

    /// The header of a transcript's text, if it has one (within its first 20 lines).
    public init?(in text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).prefix(20) {
            if line.hasPrefix(TranscriptHeader.legacyPrefix) {
                guard let count = Int(line.dropFirst(TranscriptHeader.legacyPrefix.count)) else { continue }
                self.init(engines: count)
                return
            }
            guard line.hasPrefix(TranscriptHeader.prefix) else { continue }
            var fields: [Substring: Substring] = [:]
            for field in line.dropFirst(TranscriptHeader.prefix.count).split(separator: " ") {
                guard let equals = field.firstIndex(of: "=") else { continue }
                fields[field[..<equals]] = field[field.index(after: equals)...]
            }
            self.init(
                engines: fields["engines"].flatMap { Int($0) },
                width: fields["width"].flatMap { Int($0) },
                python: fields["python"].map(String.init)
            )
            return
        }
        return nil
    }

    public var line: String {
        var fields: [String] = []
        if let engines { fields.append("engines=\(engines)") }
        if let width { fields.append("width=\(width)") }
        if let python { fields.append("python=\(python)") }
        return TranscriptHeader.prefix + (fields.isEmpty ? "" : " " + fields.joined(separator: " "))
    }

    /// `3.11` of `3.11.7`.
    static func majorMinor(_ version: String) -> String {
        version.split(separator: ".").prefix(2).joined(separator: ".")
    }
}

/// Output as it streams, escaped line by line (``TranscriptFormat/escapedOutput(_:)``): a line is held
/// back until it ends, since its start decides.
struct TranscriptOutputLines {
    private var partial = ""

    /// What to write for `text`: the lines it finishes, escaped.
    mutating func add(_ text: String) -> String {
        partial += text
        guard let end = partial.lastIndex(of: "\n") else { return "" }
        var lines = partial[...end].split(separator: "\n", omittingEmptySubsequences: false)
        lines.removeLast()
        partial = String(partial[partial.index(after: end)...])
        return lines.map { TranscriptFormat.escapedOutput($0) + "\n" }.joined()
    }

    /// The unfinished line, escaped: an input follows, or the recording ends.
    mutating func finish() -> String {
        defer { partial = "" }
        return partial.isEmpty ? "" : TranscriptFormat.escapedOutput(partial)
    }
}
