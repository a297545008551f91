/// Runs non-interactive input (`pxsh -c`, `pxsh < FILE`, `pxsh run`) through a session.
public struct ScriptRunner {
    public let session: Session
    /// Stop at the first failing command (`pxsh run`), or go on (`-c`, stdin).
    public var stopsAtFirstFailure: Bool

    public init(session: Session, stopsAtFirstFailure: Bool) {
        self.session = session
        self.stopsAtFirstFailure = stopsAtFirstFailure
    }

    /// Runs lines as they come; returns when input ends, `exit` is run, or a failure stops it.
    public func run<Lines: Sequence>(lines: Lines) where Lines.Element == String {
        defer { session.settleStores(waiting: true) }
        var reader = CellReader(isComplete: { [session] in session.completeness(of: $0).status != .incomplete })
        for line in lines {
            for cell in reader.add(line) where !runCell(cell) { return }
        }
        for cell in reader.finish() where !runCell(cell) { return }
    }

    /// Runs cells given whole (a transcript's inputs).
    public func runCells(_ cells: [String]) {
        defer { session.settleStores(waiting: true) }
        for cell in cells where !runCell(cell) { return }
    }

    /// Runs one cell; returns whether to go on.
    private func runCell(_ cell: String) -> Bool {
        let ok = session.run(cell: cell)
        return !session.shouldQuit && (ok || !stopsAtFirstFailure)
    }

    /// Re-runs a transcript's inputs and compares their output with the recorded one.
    ///
    /// - Returns: each entry's actual output where it did not match (nil where it did); each
    ///   mismatch is reported with a diff.
    public static func check(
        _ transcript: [Transcript.Entry],
        session: Session,
        capture: () -> String,
        report: (String) -> Void
    ) -> [String?] {
        var mismatches: [String?] = []
        for entry in transcript {
            // Numbers skipped in the transcript (its %record cell, say) are skipped here too, so that `Out[n]` agrees.
            if let number = entry.number, number > session.inputNumber { session.inputNumber = number }
            _ = capture()
            session.run(cell: entry.input)
            let actual = capture()
            let matches = Transcript.matches(expected: entry.expected, actual: actual)
            mismatches.append(matches ? nil : actual)
            if !matches {
                let number = session.inputNumber - 1
                report("mismatch in In [\(number)]: \(entry.input.split(separator: "\n").first ?? "")\n")
                report(Transcript.diff(expected: entry.expected, actual: actual))
            }
            if session.shouldQuit { break }
        }
        return mismatches
    }
}
