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
    /// Ctrl-C: lines still stream, without the status line, until ``finish()``.
    private var isStatusSuspended = false
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

    /// Clears the status line and draws it no more, so that messages about an interrupt start on a
    /// clean line; output lines still stream.
    func suspendStatus() {
        isStatusSuspended = true
        clearStatus()
    }

    func finish() {
        guard !isFinished else { return }
        isFinished = true
        if session.liveOutput === self { session.liveOutput = nil }
        clearStatus()
        guard didStream else { return }
        for (engine, streams) in partial.sorted(by: { $0.key < $1.key }) {
            for (stream, text) in streams where !text.isEmpty { emitLine(text, engine: engine, stream: stream) }
        }
        partial = [:]
    }

    private func received(_ bytes: [UInt8], from engine: Int32, stream: OutputStream) {
        guard didStream, !isFinished else { return }
        var text = (partial[engine]?[stream] ?? "") + bytes.displayText
        clearStatus()
        // By scalars: "\r\n" is one Character, which a search for "\n" would not find.
        while let newline = text.unicodeScalars.firstIndex(of: "\n") {
            emitLine(String(text.unicodeScalars[..<newline]), engine: engine, stream: stream)
            text = String(text.unicodeScalars[text.unicodeScalars.index(after: newline)...])
        }
        partial[engine, default: [:]][stream] = text
        drawStatus()
    }

    private func emitLine(_ line: String, engine: Int32, stream: OutputStream) {
        let name = stream == .stdout ? "stdout" : "stderr"
        session.emit(
            session.renderer.style.engine(engine, "[\(name):\(engine)]") + " " + line.resolvingCarriageReturns + "\n"
        )
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
        guard isEnabled, !isFinished, !isStatusSuspended, session.isInteractiveTerminal else { return }
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
