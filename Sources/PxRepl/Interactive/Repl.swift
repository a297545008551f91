import PxClient
import PxLineEditor
import PxPlatform

/// The interactive REPL: libedit input, multi-line cells, completion and Ctrl-C, over a ``Session``.
public final class Repl {
    private let session: Session
    private let editor: LineEditor
    private let completer: Completer

    public init(session: Session, historyFile: String?) {
        self.session = session
        self.editor = LineEditor(historyFile: historyFile)
        self.completer = Completer(session: session)
        editor.completer = { [completer] line in completer.complete(line) }
    }

    /// Reads and runs cells until `exit`, `%quit` or Ctrl-D.
    public func run() {
        InterruptSignal.install()
        session.interrupts = SignalInterrupts()
        session.isInteractiveTerminal = true
        session.inputTerminalPath = FileDescriptor.standardInput.terminalPath
        while !session.shouldQuit {
            guard let cell = readCell() else { break }
            guard !cell.trimmingSpaces.isEmpty else { continue }
            editor.addToHistory(cell)
            session.run(cell: cell)
            _ = InterruptSignal.takePending()
        }
        editor.saveHistory()
    }

    /// Reads one cell: a line, or several while the code is incomplete. nil at end of input.
    ///
    /// - A magic line is a cell of its own.
    /// - Python (run locally, or on the engines under `%autopx`) continues while the home engine says it is
    ///   incomplete, as Jupyter's `is_complete`; a whitespace-only line ends it.
    /// - A `%%px` cell continues up to a whitespace-only line.
    ///
    /// Each continuation line starts with the indentation the home engine suggests, as in IPython: the user types
    /// the code, deletes the indentation to dedent, or presses Enter on it to end the cell.
    private func readCell() -> String? {
        var lines: [String] = []
        var indent = ""
        while true {
            let prompt = lines.isEmpty ? styledPrompt(session.prompt) : styledPrompt(continuationPrompt)
            switch editor.readLine(prompt: prompt, initialText: indent) {
            case .endOfFile:
                // libedit echoed ^D and LineEditor moved to a new line: nothing to write here.
                return lines.isEmpty ? nil : lines.joined(separator: "\n")
            case .interrupted:
                if lines.isEmpty && session.interruptAtPrompt() { return "" }
                Terminal.write(session.renderer.style.dim("KeyboardInterrupt") + "\n")
                return ""
            case .line(let line):
                if lines.isEmpty {
                    if line.trimmingSpaces.isEmpty { return "" }
                    if line.trimmingSpaces.hasPrefix("%") && !MagicCatalog.opensCell(line) { return line }
                } else if line.trimmingSpaces.isEmpty {
                    return lines.joined(separator: "\n")
                }
                lines.append(line)
                if MagicCatalog.opensCell(lines[0]) {
                    // The body is Python: indent it like Python, but only a blank line ends the cell.
                    let body = lines.dropFirst().joined(separator: "\n")
                    indent = body.isEmpty ? "" : session.completeness(of: body).indent
                    continue
                }
                let completeness = session.completeness(of: lines.joined(separator: "\n"))
                if completeness.status != .incomplete { return lines.joined(separator: "\n") }
                indent = completeness.indent
            }
        }
    }

    private var continuationPrompt: String {
        let width = max(0, session.prompt.count - 5)
        return String(repeating: " ", count: width) + "...: "
    }

    private func styledPrompt(_ text: String) -> String {
        session.renderer.style.prompt(text)
    }
}

/// The session's view of SIGINT: the line editor's self-pipe. Making one installs the handler, after which
/// Ctrl-C no longer ends the process: it makes `descriptor` readable.
public final class SignalInterrupts: InterruptSource {
    public init() { InterruptSignal.install() }
    public var descriptor: FileDescriptor { FileDescriptor(rawValue: InterruptSignal.fileDescriptor) }
    public func takePending() -> Int { InterruptSignal.takePending() }
}
