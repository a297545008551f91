/// Reads lines from the terminal with editing, persistent history, Tab completion and Ctrl-C.
///
/// Built on libedit's readline emulation: emacs-style keys, Up and Down through the history, Ctrl-R to search it,
/// and `~/.editrc` lines prefixed `pxsh:` to rebind keys.
///
/// - Ctrl-C returns `.interrupted`, and never ends the process. The edited line is dropped; call `readLine(prompt:)`
///   again for a fresh one.
/// - Ctrl-D on an empty line returns `.endOfFile`, and libedit echoes `^D`. On a non-empty line it deletes the
///   character under the cursor.
/// - Tab asks `completer`. A single candidate is inserted, followed by a space unless it ends in `.`, `/`, `(`, `[`
///   or `=`. Several candidates insert their common prefix, or, when that adds nothing, are listed below the line.
///   Tab after nothing but whitespace inserts four spaces instead, to indent Python code.
/// - `readLine(prompt:initialText:)` can start the line with text, such as the indentation of a continuation line.
///   This takes two keys that libedit's emacs keymap leaves unused: Ctrl-^ (which does nothing when pressed) and
///   Ctrl-] (which redraws the line).
/// - Each entry passed to `addToHistory(_:)` is appended to the history file at once, so several sessions can share
///   one file and a new process finds the entries with Up.
///
/// When standard input is not a terminal, libedit shows no prompt and does no editing: lines are read as they are.
///
/// Only one `LineEditor` may exist at a time, because libedit's readline emulation is process-wide. Creating a
/// second one while the first is alive traps. Use it from a single thread.
public final class LineEditor {
    /// What the user did at the prompt.
    public enum Input: Equatable, Sendable {
        /// The user pressed Enter. The line has no trailing newline; it holds newlines when a multi-line entry was
        /// recalled from the history.
        case line(String)
        /// The user pressed Ctrl-C.
        case interrupted
        /// The user pressed Ctrl-D on an empty line, or the input ended.
        case endOfFile
    }

    /// Completes the token that ends at the cursor.
    ///
    /// `lineBeforeCursor` is the edit buffer up to the cursor. Returns the character offset in it where the token
    /// starts, and the full replacements for that token.
    public typealias Completer = (_ lineBeforeCursor: String) -> (start: Int, candidates: [String])

    /// Answers Tab; with no completer, Tab only indents.
    public var completer: Completer?

    /// What Tab inserts when only whitespace precedes the cursor.
    private static let indentation = "    "

    private let historyFile: HistoryFile?
    private let historyLimit: Int

    /// The newest history entry, so that an entry repeated right away is stored once.
    private var newestEntry: String?

    /// Entries that could not be appended to the history file yet, oldest first.
    private var unsavedEntries: [String] = []

    /// Creates the process's line editor and loads the history.
    ///
    /// Installs `InterruptSignal`'s SIGINT handler, so that Ctrl-C cannot end the process.
    ///
    /// - Parameters:
    ///   - historyFile: The file that keeps the history between sessions, in libedit's format; created on the first
    ///     entry. `nil` keeps the history in memory only.
    ///   - historyLimit: The number of entries kept, in memory and in the file; the oldest go first.
    public init(historyFile: String?, historyLimit: Int = 10_000) {
        self.historyFile = historyFile.map(HistoryFile.init(path:))
        self.historyLimit = max(historyLimit, 0)
        InterruptSignal.install()
        Readline.claim()
        Readline.limitHistory(to: self.historyLimit)
        loadHistory()
    }

    deinit {
        if !unsavedEntries.isEmpty {
            saveHistory()
        }
        Readline.release()
    }

    /// Reads one line with editing.
    ///
    /// The prompt may contain ANSI escape sequences, such as colours: they are marked so that libedit does not count
    /// them as columns. After `.interrupted` and `.endOfFile` the cursor has been moved to a new line.
    ///
    /// Interrupts received before the call are discarded: they belonged to whatever ran before the prompt.
    ///
    /// - Parameters:
    ///   - prompt: Shown before the line.
    ///   - initialText: Already in the line when it appears, with the cursor after it, as if typed first: the
    ///     indentation of a continuation line, which the user can edit or delete. The returned line includes it.
    ///     Ignored when the terminal is not being edited (input from a pipe or a file), and when whole lines are
    ///     already waiting to be read, as when several lines are pasted: they bring their own indentation.
    public func readLine(prompt: String, initialText: String = "") -> Input {
        _ = InterruptSignal.takePending()
        let markedPrompt = PromptMarkup.markingEscapeSequences(in: prompt)
        while true {
            let result = Readline.read(prompt: markedPrompt, initialText: initialText) {
                [unowned self] lineBeforeCursor, wordStart in
                self.completions(lineBeforeCursor: lineBeforeCursor, wordStart: wordStart)
            }
            switch result {
            case .line(let line):
                return .line(line)
            case .endOfFile:
                Readline.moveToNewLine()
                return .endOfFile
            case .interruptedBySignal:
                Readline.moveToNewLine()
                // Without a pending SIGINT, another signal broke the read: one whose handler was installed without
                // SA_RESTART. That is not the user's doing, so read again.
                if InterruptSignal.takePending() > 0 {
                    return .interrupted
                }
            }
        }
    }

    /// Adds an entry to the history, and appends it to the history file.
    ///
    /// Whitespace-only entries, and an entry equal to the newest one, are not stored. A multi-line entry stays one
    /// entry. If the file cannot be written, the entry is kept and written by the next successful append or by
    /// `saveHistory()`.
    public func addToHistory(_ entry: String) {
        guard !entry.allSatisfy(\.isWhitespace), entry != newestEntry else { return }
        newestEntry = entry
        Readline.addToHistory(entry)
        guard let historyFile else { return }
        unsavedEntries.append(entry)
        while let oldest = unsavedEntries.first {
            do {
                try historyFile.append(oldest)
            } catch {
                unsavedEntries = Array(unsavedEntries.suffix(historyLimit))
                return
            }
            unsavedEntries.removeFirst()
        }
    }

    /// Trims the history file to the newest `historyLimit` entries, and writes the entries not written yet.
    ///
    /// Entries appended by other sessions sharing the file are kept. A file that exists but is not in libedit's
    /// format is never overwritten.
    public func saveHistory() {
        guard let historyFile else { return }
        let entriesOnDisk: [String]
        switch historyFile.load(limit: historyLimit) {
        case .unreadable:
            return
        case .missing:
            guard !unsavedEntries.isEmpty else { return }
            entriesOnDisk = []
        case .entries(let entries, let countInFile):
            guard countInFile > historyLimit || !unsavedEntries.isEmpty else { return }
            entriesOnDisk = entries
        }
        let entries = Array((entriesOnDisk + unsavedEntries).suffix(historyLimit))
        if (try? historyFile.replaceContents(with: entries)) != nil {
            unsavedEntries.removeAll()
        }
    }

    // MARK: - Private

    /// Puts the newest entries of the history file in memory, and trims the file if it has outgrown the limit.
    private func loadHistory() {
        guard let historyFile,
            case .entries(let entries, let countInFile) = historyFile.load(limit: historyLimit)
        else { return }
        for entry in entries {
            Readline.addToHistory(entry)
        }
        newestEntry = entries.last
        if countInFile > historyLimit {
            try? historyFile.replaceContents(with: entries)
        }
    }

    /// Answers Tab from `completer`, or with indentation when only whitespace precedes the cursor.
    private func completions(lineBeforeCursor: String, wordStart: Int) -> CompletionMatches? {
        if lineBeforeCursor.allSatisfy(\.isWhitespace) {
            return .insertingText(Self.indentation)
        }
        guard let completer else { return nil }
        let token = completer(lineBeforeCursor)
        return CompletionMatches(
            lineBeforeCursor: lineBeforeCursor,
            wordStart: wordStart,
            tokenStart: token.start,
            candidates: token.candidates
        )
    }
}
