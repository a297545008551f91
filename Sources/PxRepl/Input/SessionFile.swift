import PxPlatform

#if canImport(Glibc)
import Glibc
#endif

/// Session files (`.px`: what one would type) and transcripts (`.pxt`: inputs after `In [n]:`
/// prompts, with their expected output), split into the cells they contain.
public enum SessionFile {
    public static func read(_ path: String) throws -> String {
        // A session file is typed text; reading /dev/zero or a data file whole would eat memory.
        do {
            return normalized(String(decoding: try FileDescriptor.readAll(path, limit: maximumSize), as: UTF8.self))
        } catch let error as SystemError where error.code == EFBIG {
            throw TooLarge(path: path)
        }
    }

    /// The text as Python reads a source file: a leading byte order mark dropped and `\r\n` line ends
    /// read as `\n` (a file saved on Windows, or checked out with git's autocrlf).
    static func normalized(_ text: String) -> String {
        var text = Substring(text)
        if text.hasPrefix("\u{FEFF}") { text = text.dropFirst() }
        // "\r\n" is one Character to Swift, so lines split at "\n" would keep it inside them.
        guard text.contains("\r\n") else { return String(text) }
        return text.split(separator: "\r\n", omittingEmptySubsequences: false).joined(separator: "\n")
    }

    /// A file too large to be a session file.
    public struct TooLarge: Error, CustomStringConvertible {
        public var path: String
        public var description: String { "\(path) is larger than 64 MiB: not a session file" }
    }

    /// The largest session file pxsh reads: 64 MiB.
    public static let maximumSize = 64 << 20

    /// Whether `text` is a transcript: it has `In [n]:` prompts.
    public static func isTranscript(_ text: String) -> Bool {
        text.split(separator: "\n").contains { Prompt.parse(String($0)) != nil }
    }

    /// The cells to run, in order. A transcript's are its inputs; a session file's are found the way a
    /// Python REPL reads typed lines (see ``CellReader``).
    public static func cells(of text: String, isComplete: @escaping (String) -> Bool) -> [String] {
        if isTranscript(text) { return Transcript.parse(text).map(\.input) }
        var reader = CellReader(isComplete: isComplete)
        var cells: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            cells += reader.add(String(line))
        }
        return cells + reader.finish()
    }
}

/// The prompts of a transcript: `In [3]: ` and `[px 0-3] In [3]: `.
public enum Prompt {
    /// The input text after the prompt, if `line` starts with one.
    public static func parse(_ line: String) -> String? {
        parseNumbered(line)?.input
    }

    /// The prompt's number and the input text after it, if `line` starts with a prompt.
    public static func parseNumbered(_ line: String) -> (number: Int, input: String)? {
        var rest = Substring(line)
        if rest.hasPrefix("[px "), let close = rest.firstIndex(of: "]") {
            rest = rest[rest.index(after: close)...].drop { $0 == " " }
        }
        guard rest.hasPrefix("In ["), let close = rest.firstIndex(of: "]") else { return nil }
        let number = rest[rest.index(rest.startIndex, offsetBy: 4)..<close]
        guard let value = Int(number), value >= 0 else { return nil }
        var after = rest[rest.index(after: close)...]
        guard after.hasPrefix(":") else { return nil }
        after = after.dropFirst()
        return (value, String(after.hasPrefix(" ") ? after.dropFirst() : after))
    }
}

/// Groups lines into cells as a Python REPL reads them.
///
/// - A line starting with `%` is a magic on its own; `%%px` starts a cell that runs to the next blank line.
/// - Blank lines and `#` comments between cells are skipped.
/// - Python lines gather until the home engine says the code is complete. A compound statement
///   (`def`, `for`) ends at a blank line, or at the next line that starts a new statement at column 0.
public struct CellReader {
    private enum Mode { case idle, python, magicCell }
    private let isComplete: (String) -> Bool
    private var mode = Mode.idle
    private var lines: [String] = []

    public init(isComplete: @escaping (String) -> Bool) {
        self.isComplete = isComplete
    }

    /// Whether a cell is open and wants more lines (a `...:` prompt).
    public var isContinuing: Bool { mode != .idle }

    /// Adds one line; returns the cells it completes.
    public mutating func add(_ line: String) -> [String] {
        let isBlank = line.trimmingSpaces.isEmpty
        switch mode {
        case .idle:
            if isBlank || line.trimmingSpaces.hasPrefix("#") { return [] }
            if MagicCatalog.opensCell(line) {
                mode = .magicCell
                lines = [line]
                return []
            }
            if line.trimmingSpaces.hasPrefix("%") { return [line.trimmingSpaces] }
            mode = .python
            lines = [line]
            return isComplete(line) ? flush() : []
        case .magicCell:
            if isBlank { return flush() }
            lines.append(line)
            return []
        case .python:
            if isBlank { return flush() }
            if startsNewStatement(line) && isComplete(text + "\n\n") {
                return flush() + add(line)
            }
            // The cell goes on to a blank line or the next statement (asked about above): asking about
            // each line would cost a round trip to the home engine and change nothing.
            lines.append(line)
            return []
        }
    }

    /// Ends the input: returns the open cell, if any.
    public mutating func finish() -> [String] {
        mode == .idle ? [] : flush()
    }

    private var text: String { lines.joined(separator: "\n") }

    private func startsNewStatement(_ line: String) -> Bool {
        guard let first = line.first, !first.isWhitespace, !")]}".contains(first) else { return false }
        let word = line.prefix { $0.isLetter }
        return !["else", "elif", "except", "finally", "case"].contains(String(word))
    }

    private mutating func flush() -> [String] {
        defer {
            lines = []
            mode = .idle
        }
        return lines.isEmpty ? [] : [text]
    }
}
