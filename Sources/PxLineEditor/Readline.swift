// libedit's readline emulation keeps its state in C globals (`rl_*`, one `EditLine`, one `History`), which Swift 6
// rejects as shared mutable state. Every use of them is in this file, behind `@preconcurrency`.
@preconcurrency import CLibEdit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// libedit's readline emulation, reduced to what `LineEditor` needs.
///
/// The emulation is process-wide: one edit line, one in-memory history, one completion hook. So there can be only
/// one `LineEditor` at a time; `claim()` and `release()` enforce that. Everything here runs on the thread that calls
/// `read(prompt:completion:)`: libedit calls the completion hook synchronously from inside `readline()`.
enum Readline {
    /// What one call of `readline()` produced.
    enum ReadResult: Equatable {
        case line(String)
        /// `read()` failed with `EINTR` (a signal arrived while waiting for a key) or `EAGAIN` (a Ctrl-C arrived while
        /// keys were being handled). The typed text is gone.
        case interruptedBySignal
        case endOfFile
    }

    /// Answers one press of Tab.
    ///
    /// Receives the edit buffer up to the cursor and where libedit's word starts in it, in Unicode scalars.
    typealias CompletionHandler = (_ lineBeforeCursor: String, _ wordStart: Int) -> CompletionMatches?

    /// The name libedit matches against `~/.editrc` lines written as `pxsh:bind ...`.
    private static let applicationName: StaticString = "pxsh"

    /// Where libedit's word before the cursor starts and ends.
    ///
    /// IPython's delimiters (`IPython.core.completer.DELIMS`): they leave out `.` (`np.ar`), `%` (`%pu`), `-`
    /// (`--targets`), `/` and `~` (paths), so those stay inside the word that Tab completes.
    private static let wordBreakCharacters: StaticString = " \t\n`!@#$^&*()=+[{]}\\|;:'\",<>?"

    /// The key that makes libedit call `insertInitialText`: Ctrl-^, which libedit's emacs keymap ignores.
    ///
    /// libedit empties its edit buffer after `rl_pre_input_hook` runs, so text inserted there is lost. Keys pushed
    /// back with `rl_insert` (libedit's `el_push`) survive and are read before the terminal's, as if typed first: the
    /// hook pushes this key, and the function bound to it inserts the text, now inside the edit. Pressed by hand,
    /// the key does nothing.
    fileprivate static let initialTextKey: Int32 = 0x1E

    /// The key bound to libedit's `ed-redisplay`: Ctrl-], which libedit's emacs keymap ignores.
    ///
    /// Functions bound with `rl_add_defun` cannot ask libedit to redraw the line, and `rl_forced_update_display()`
    /// draws the prompt a second time after the one on screen. So `insertInitialText` pushes this key, and libedit
    /// redraws the prompt and the inserted text in place.
    fileprivate static let redisplayKey: Int32 = 0x1D

    private static let initialTextFunctionName: StaticString = "pxsh-insert-initial-text"
    private static let bindRedisplayKey: StaticString = "bind ^] ed-redisplay"

    /// Makes the editor this process's only one, and sets up libedit.
    ///
    /// Call once per `LineEditor`, before any other function here.
    static func claim() {
        precondition(
            !state.isClaimed,
            "Only one LineEditor may exist at a time: libedit's readline emulation is process-wide."
        )
        state.isClaimed = true
        guard !state.isInitialized else { return }
        state.isInitialized = true

        selectUTF8Locale()
        rl_readline_name = UnsafeRawPointer(applicationName.utf8Start).assumingMemoryBound(to: CChar.self)
        // rl_initialize reads the locale and rl_readline_name: both must be set before.
        rl_initialize()
        // Only the basic set counts: libedit's rl_complete ignores rl_completer_word_break_characters.
        rl_basic_word_break_characters = UnsafeRawPointer(wordBreakCharacters.utf8Start)
            .assumingMemoryBound(to: CChar.self)
        rl_attempted_completion_function = attemptCompletion

        // libedit edits only a terminal that echoes; rl_initialize() decides the same way. Otherwise the pushed keys
        // below would reach the line as characters.
        var settings = termios()
        let isTerminal = isatty(STDIN_FILENO) != 0 && tcgetattr(STDIN_FILENO, &settings) == 0
        state.isEditing = isTerminal && settings.c_lflag & tcflag_t(ECHO) != 0
        let name = UnsafeRawPointer(initialTextFunctionName.utf8Start).assumingMemoryBound(to: CChar.self)
        rl_add_defun(name, insertInitialText, initialTextKey)
        _ = rl_parse_and_bind(UnsafeRawPointer(bindRedisplayKey.utf8Start).assumingMemoryBound(to: CChar.self))
        rl_pre_input_hook = pushInitialTextKey
    }

    /// Lets another `LineEditor` be created, and forgets the in-memory history.
    static func release() {
        clear_history()
        state.isClaimed = false
    }

    /// Reads one line with editing, answering Tab with `completion`.
    ///
    /// - Parameters:
    ///   - prompt: Shown before the line; escape sequences in it must already be marked (`PromptMarkup`).
    ///   - initialText: Put in the edit buffer before the first key, with the cursor after it. Ignored when the
    ///     terminal is not being edited, and when input is already waiting (a paste).
    static func read(prompt: String, initialText: String = "", completion: @escaping CompletionHandler) -> ReadResult {
        state.completion = completion
        state.initialText = initialText.isEmpty || !state.isEditing || isInputPending() ? nil : initialText
        defer {
            state.completion = nil
            state.initialText = nil
        }
        // Ctrl-D on an empty line leaves errno alone: clear it so that a stale EINTR is not taken for a signal.
        errno = 0
        InterruptSignal.beginLineRead()
        // A Ctrl-C that came before the line read began would not stop it.
        guard !InterruptSignal.isPending else {
            InterruptSignal.endLineRead()
            return .interruptedBySignal
        }
        let line = readline(prompt)
        // EAGAIN: a Ctrl-C made standard input non-blocking (see InterruptSignal).
        let interrupted = errno == EINTR || errno == EAGAIN
        InterruptSignal.endLineRead()
        guard let line else {
            return interrupted ? .interruptedBySignal : .endOfFile
        }
        // readline() returns a malloc'd copy that the caller owns.
        defer { free(line) }
        return .line(String(cString: line))
    }

    /// Whether keys are already waiting to be read: text being pasted, which brings its own indentation.
    ///
    /// The terminal is in canonical mode between two reads, so only whole lines count; that is what a paste of
    /// several lines leaves behind after its first line.
    private static func isInputPending() -> Bool {
        isReadableNow(STDIN_FILENO)
    }

    /// Keeps at most `limit` entries in the in-memory history, dropping the oldest first.
    static func limitHistory(to limit: Int) {
        stifle_history(Int32(clamping: limit))
    }

    /// Adds `entry` as the newest entry of the in-memory history, which Up and Ctrl-R search.
    static func addToHistory(_ entry: String) {
        add_history(entry)
    }

    /// Ends the current output line, where libedit writes.
    ///
    /// After Ctrl-C or Ctrl-D the cursor is still on the edited line, and the next output must not be appended to
    /// it. Does nothing when the terminal is not being edited (input from a pipe or a file).
    static func moveToNewLine() {
        guard isatty(STDIN_FILENO) != 0, isatty(STDOUT_FILENO) != 0, let output = rl_outstream else { return }
        fputs("\n", output)
        fflush(output)
    }

    // MARK: - Locale

    /// Selects the user's character encoding, or UTF-8 when the user's locale is the plain C locale.
    ///
    /// libedit decodes keys with `mbrtowc`: in the C locale, `é` arrives as two broken characters. Only `LC_CTYPE`
    /// is set, because `LC_NUMERIC` would change how C formats numbers for the whole process. Falling back from C
    /// to C.UTF-8 is what Python does (PEP 538): containers often set no locale at all.
    private static func selectUTF8Locale() {
        setlocale(LC_CTYPE, "")
        guard let codeset = nl_langinfo(nl_item(CODESET)), String(cString: codeset) != "UTF-8" else { return }
        if let current = setlocale(LC_CTYPE, nil), ["C", "POSIX"].contains(String(cString: current)) {
            _ = setlocale(LC_CTYPE, "C.UTF-8") ?? setlocale(LC_CTYPE, "en_US.UTF-8")
        }
    }
}

// MARK: - The state the C callback needs

/// The line editor's state that libedit's completion hook must reach.
private struct ReadlineState {
    /// Whether a `LineEditor` exists.
    var isClaimed = false
    /// Whether libedit's readline emulation has been set up: once per process.
    var isInitialized = false
    /// The handler for Tab, set only while `Readline.read(prompt:initialText:completion:)` runs.
    var completion: Readline.CompletionHandler?
    /// Whether libedit edits the input: a terminal that echoes.
    var isEditing = false
    /// The text still to be put in the edit buffer by `insertInitialText`, while `Readline.read` runs.
    var initialText: String?
}

/// The one global behind `LineEditor`.
///
/// libedit calls `rl_attempted_completion_function`, `rl_pre_input_hook` and functions bound to keys as plain C
/// function pointers, with no context argument, so the hooks can find the editor only through a global. It is read
/// and written only on the thread that reads lines, which is why unsynchronised access is safe here.
nonisolated(unsafe) private var state = ReadlineState()

// MARK: - Initial text

/// `rl_pre_input_hook`: queues the key that inserts the initial text, if there is one.
///
/// libedit clears the edit buffer after this hook, then reads pushed keys before the terminal's.
private func pushInitialTextKey() -> Int32 {
    if state.initialText != nil {
        rl_insert(1, Readline.initialTextKey)
    }
    return 0
}

/// Bound to `Readline.initialTextKey`: inserts the initial text, once, and has libedit redraw the line.
private func insertInitialText(_: Int32, _: Int32) -> Int32 {
    guard let text = state.initialText else { return 0 }
    state.initialText = nil
    rl_insert_text(text)
    rl_insert(1, Readline.redisplayKey)
    return 0
}

// MARK: - Completion hook

/// Answers Tab: libedit's `rl_attempted_completion_function`.
///
/// - Parameters:
///   - word: libedit's word before the cursor; unused, as `wordStart` locates it in the whole line.
///   - wordStart: Where libedit's word starts, counted in the `wchar_t`s of libedit's buffer (Unicode scalars).
///   - cursor: Where the cursor is, in the same unit.
/// - Returns: The matches in the layout `rl_completion_matches()` produces (the text to insert, then each
///   replacement, then `NULL`), allocated with `malloc` because libedit frees the array and every string in it; or
///   `NULL` for no completion.
private func attemptCompletion(
    _ word: UnsafePointer<CChar>?,
    _ wordStart: Int32,
    _ cursor: Int32
) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? {
    // Without this, libedit falls back to completing file names when the hook returns NULL.
    rl_attempted_completion_over = 1
    // rl_complete() refreshed rl_line_buffer, the whole line in UTF-8, just before calling the hook.
    guard let complete = state.completion, let buffer = rl_line_buffer else { return nil }
    let scalars = String(cString: buffer).unicodeScalars
    let cursorIndex =
        scalars.index(scalars.startIndex, offsetBy: Int(cursor), limitedBy: scalars.endIndex) ?? scalars.endIndex
    guard let matches = complete(String(scalars[..<cursorIndex]), Int(wordStart)) else { return nil }

    if matches.needsListing {
        // libedit lists only on the second Tab in a row; list on the first when there is nothing to insert, as
        // readline's show-all-if-unmodified does. libedit then has nothing to do, so the hook returns NULL.
        listCandidates(matches.candidates)
        return nil
    }
    // libedit reads this after the hook returns, to follow a single match: "" adds nothing.
    rl_completion_append_character = matches.appendsSpace ? 0x20 : 0
    return makeMatchArray(first: matches.insertion, rest: matches.replacements)
}

/// Prints `candidates` in columns below the line being edited, then redraws the prompt and the line under them.
///
/// Shows at most `rl_completion_query_items` (100) candidates, in sorted order, then says how many more there are.
/// libedit would instead ask "Display all N possibilities? (y or n)", reading the answer with stdio behind its own
/// back; typing more of the name is the better answer anyway.
private func listCandidates(_ candidates: [String]) {
    guard let output = rl_outstream else { return }
    let limit = max(Int(rl_completion_query_items), 1)
    let shown = Array(candidates.sorted().prefix(limit))
    // fn_display_match_list pads with strlen, so its column width is counted in bytes.
    let widest = shown.map(\.utf8.count).max() ?? 0
    let array = makeMatchArray(first: "", rest: shown)
    defer { freeMatchArray(array) }
    // Nothing should follow each item, where libedit would put the append character.
    rl_completion_append_character = 0
    fputs("\n", output)
    // libedit skips array[0] and counts it in the length, unlike GNU readline.
    rl_display_match_list(array, Int32(shown.count + 1), Int32(clamping: widest))
    if candidates.count > shown.count {
        fputs("... and \(candidates.count - shown.count) more\n", output)
    }
    // rl_forced_update_display() makes libedit forget where it drew the line and draw it again, here.
    rl_forced_update_display()
}

/// Returns a `NULL`-terminated array of `malloc`'d copies of `first` and `rest`, as libedit frees them.
private func makeMatchArray(first: String, rest: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
    let count = rest.count + 2
    guard let raw = malloc(count * MemoryLayout<UnsafeMutablePointer<CChar>?>.stride) else {
        fatalError("Out of memory for \(count) completions")
    }
    let array = raw.bindMemory(to: UnsafeMutablePointer<CChar>?.self, capacity: count)
    array[0] = strdup(first)
    for (offset, string) in rest.enumerated() {
        array[offset + 1] = strdup(string)
    }
    array[count - 1] = nil
    return array
}

/// Frees an array from `makeMatchArray` that was not handed to libedit.
private func freeMatchArray(_ array: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) {
    var index = 0
    while let string = array[index] {
        free(string)
        index += 1
    }
    free(array)
}
