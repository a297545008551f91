import PxClient
import PxText

/// Live display of a long blocking command on a terminal.
///
/// After about a second, output lines appear as they arrive, with their engine prefix, and a status
/// line at the bottom shows progress. Before that, and when not on a terminal, nothing is shown
/// until the command ends, so short commands print their tidy grouped output.
final class LiveOutput {
    private unowned let session: Session
    private let result: AsyncResult
    private let isEnabled: Bool
    private let showsLines: Bool
    private(set) var didStream = false
    private var partial: [Int32: [OutputStream: String]] = [:]
    private var hasStatusLine = false
    private var isFinished = false
    /// Ctrl-C: no status line, and the lines that still come (a flood's backlog, say) are kept back
    /// but for the last few of each stream, shown at ``finish()``, so the prompt returns at once.
    private var isInterrupted = false
    private var linesAfterInterrupt: [Int32: [OutputStream: LastLines]] = [:]
    static let delay = 1.0

    /// - Parameter showsLines: stream output lines (for `%px`); else only the status line (for `%map`).
    init(session: Session, result: AsyncResult, enabled: Bool, showsLines: Bool = true) {
        self.session = session
        self.result = result
        self.isEnabled = enabled
        self.showsLines = showsLines
        guard enabled else { return }
        session.liveOutput = self
        let previous = result.onOutput
        result.onOutput = { [weak self] engine, stream, bytes in
            previous?(engine, stream, bytes)
            self?.received(bytes, from: engine, stream: stream)
        }
    }

    /// Called about every 100 ms while the command runs.
    func tick() {
        guard isEnabled, !isFinished, result.elapsed >= LiveOutput.delay else { return }
        if !didStream && showsLines {
            didStream = true
            clearStatus()
            for task in result.tasks {
                let engine = task.engine ?? EngineNumber.none
                if !task.stdout.isEmpty { received(task.stdout, from: engine, stream: .stdout) }
                if !task.stderr.isEmpty { received(task.stderr, from: engine, stream: .stderr) }
            }
        }
        drawStatus()
    }

    /// Ctrl-C: clears the status line and draws it no more, so that messages about the interrupt start
    /// on a clean line; from now on output lines are kept back (see ``isInterrupted``).
    func interrupted() {
        isInterrupted = true
        clearStatus()
    }

    func finish() {
        guard !isFinished else { return }
        isFinished = true
        if session.liveOutput === self { session.liveOutput = nil }
        clearStatus()
        guard didStream else { return }
        for (engine, streams) in linesAfterInterrupt.sorted(by: { $0.key < $1.key }) {
            for (stream, kept) in streams.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                if let skipped = kept.skippedNotice { emitLine(skipped, engine: engine, stream: stream) }
                for line in kept.lines { emitLine(line, engine: engine, stream: stream) }
            }
        }
        linesAfterInterrupt = [:]
        for (engine, streams) in partial.sorted(by: { $0.key < $1.key }) {
            for (stream, text) in streams where !text.isEmpty { emitLine(text, engine: engine, stream: stream) }
        }
        partial = [:]
    }

    private func received(_ bytes: [UInt8], from engine: Int32, stream: OutputStream) {
        guard didStream, !isFinished else { return }
        let text = (partial[engine]?[stream] ?? "") + bytes.displayText
        // One pass, by scalars ("\r\n" is one Character, which a split at "\n" would not see); the
        // unfinished last line waits for the rest.
        var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
        partial[engine, default: [:]][stream] = String(lines.removeLast())
        guard !lines.isEmpty else { return }
        if isInterrupted {
            linesAfterInterrupt[engine, default: [:]][stream, default: LastLines()].append(contentsOf: lines)
            return
        }
        clearStatus()
        // One write for the lines of a chunk: a flood is drawn as fast as the terminal takes it.
        session.emit(lines.map { labelled(String($0), engine: engine, stream: stream) }.joined())
        drawStatus()
    }

    private func emitLine(_ line: String, engine: Int32, stream: OutputStream) {
        session.emit(labelled(line, engine: engine, stream: stream))
    }

    private func labelled(_ line: String, engine: Int32, stream: OutputStream) -> String {
        let name = stream == .stdout ? "stdout" : "stderr"
        return session.renderer.style.engine(engine, "[\(name):\(engine)]") + " " + line.resolvingCarriageReturns + "\n"
    }

    /// Writes a message (an engine died, a notice) on a line of its own: the status line is cleared
    /// first and drawn again below it.
    func interject(_ write: () -> Void) {
        let hadStatusLine = hasStatusLine
        clearStatus()
        write()
        if hadStatusLine { drawStatus() }
    }

    private func drawStatus() {
        guard isEnabled, !isFinished, !isInterrupted, session.isInteractiveTerminal else { return }
        let done = result.completedCount
        let total = result.tasks.count
        var status =
            "[\(done)/\(Renderer.count(total, result.kind == .map ? "task" : "engine")) done, "
            + Renderer.seconds(result.elapsed)
        if result.kind == .map && done > 0 {
            let rate = Double(done) / max(result.elapsed, 1e-9)
            status +=
                ", \(NumberFormat.fixed(rate, decimals: 1)) tasks/s, ETA \(Renderer.seconds(Double(total - done) / rate))"
        }
        status += "]  Ctrl-C interrupts"
        // One row only: a wrapped status line could not be erased with a carriage return.
        let width = max(10, session.renderer.width - 1)
        if status.count > width { status = String(status.prefix(width)) }
        session.write("\r\u{1B}[K" + session.renderer.style.dim(status))
        hasStatusLine = true
    }

    private func clearStatus() {
        guard hasStatusLine else { return }
        session.write("\r\u{1B}[K")
        hasStatusLine = false
    }
}

/// The last lines of a stream, and how many came before them.
struct LastLines {
    static let count = 20
    private(set) var lines: [String] = []
    private(set) var skipped = 0

    /// Takes more lines; only the last ``count`` of all become text, the others are counted.
    mutating func append(contentsOf more: [Substring.UnicodeScalarView]) {
        let newest = more.suffix(Self.count)
        let overflow = max(0, lines.count + newest.count - Self.count)
        lines.removeFirst(overflow)
        skipped += more.count - newest.count + overflow
        lines += newest.map(String.init)
    }

    /// "… 1234 earlier lines not shown (Ctrl-C)", when lines were skipped.
    var skippedNotice: String? {
        skipped == 0 ? nil : "… \(skipped) earlier \(skipped == 1 ? "line" : "lines") not shown (Ctrl-C)"
    }

    /// The last ``count`` lines of `text`, after a line that says how many came before them.
    static func of(_ text: String) -> String {
        var kept = LastLines()
        var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
        let hasFinalNewline = lines.last?.isEmpty == true
        if hasFinalNewline { lines.removeLast() }
        guard lines.count > count else { return text }
        kept.append(contentsOf: lines)
        return ([kept.skippedNotice ?? ""] + kept.lines).joined(separator: "\n") + (hasFinalNewline ? "\n" : "")
    }
}
