import ArgumentParser
import PxPlatform
import PxRepl

#if canImport(Glibc)
import Glibc
#endif

/// `pxsh run FILE`: run a session file, or check a transcript.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a session file (.px), or re-run and check a transcript (.pxt).",
        discussion: """
            A session file holds what one would type: blank lines end cells, # starts a comment. The \
            first failing command stops the run with exit status 1, unless --keep-going. --record OUT.pxt \
            writes a transcript, whose first line records what the output depends on: the number of \
            engines, the width and the engines' Python version.

            With --check, the transcript's inputs are re-run and their output compared with the recorded \
            output; '...' in a recorded line matches anything within that line. A mismatch prints a diff \
            and exits 1. The check starts as many engines as the transcript was recorded with, unless -n \
            says otherwise (it then says that the counts differ), and renders at the recorded width.
            """
    )

    @Argument(help: "The session file or transcript.") var file: String
    @Flag(help: "Compare the output with the transcript's recorded output.") var check = false
    @Flag(help: "With --check: write the actual output into the transcript where it differs (comments stay).")
    var update = false
    @Option(help: "Write a transcript of the run to this file.") var record: String?
    @Flag(help: "Go on after a failing command.") var keepGoing = false
    @OptionGroup var cluster: ClusterOptions
    @Flag(help: "Plain output, without colours.") var noColor = false

    func validate() throws {
        if update && !check { throw ValidationError("--update goes with --check") }
    }

    func run() throws {
        // A file that cannot be run is a usage error (status 2), said in one line without the usage.
        func refuse(_ why: String) -> ExitCode {
            try? FileDescriptor.standardError.writeAll("pxsh: \(why)\n")
            return ExitCode(2)
        }
        let text: String
        do {
            text = try SessionFile.read(file)
        } catch {
            throw refuse("cannot read \(file): \(error)")
        }
        let isTranscript = SessionFile.isTranscript(text)
        if check && !isTranscript {
            throw refuse(
                "\(file) is not a transcript (it has no `In [1]:` prompts): run it without --check, or make one "
                    + "with `pxsh run \(file) --record OUT.pxt`"
            )
        }
        var terminal = Terminal.current(noColor: noColor)
        var cluster = self.cluster
        let header = TranscriptHeader(in: text)
        if check {
            // Checked output must not depend on the terminal: no colour, and the width and engine
            // count the transcript was recorded with (80 columns if it does not say).
            terminal.usesColor = false
            terminal.width = header?.width ?? 80
            if cluster.n == nil { cluster.n = header?.engines }
        }
        var captured = ""
        let session = try cluster.connect(terminal: terminal)
        defer { session.cluster.shutdown() }
        if check {
            Terminal.write(checkNotes(header: header, running: session.transcriptHeader))
            let checking = Session(cluster: session.cluster, renderer: terminal.renderer) { captured += $0 }
            let entries = Transcript.parse(text)
            let outputs = ScriptRunner.check(
                entries,
                session: checking,
                capture: {
                    defer { captured = "" }
                    return captured
                },
                report: { Terminal.write($0) }
            )
            session.cluster.shutdown()
            let mismatches = outputs.filter { $0 != nil }.count
            Terminal.write("\(file): \(entries.count - mismatches) passed, \(mismatches) failed\n")
            if update && mismatches > 0 {
                let fd = try FileDescriptor.open(file, flags: O_WRONLY | O_TRUNC)
                defer { fd.close() }
                try fd.writeAll(Transcript.updated(text, actual: outputs))
                Terminal.write("\(file): updated \(Renderer.count(mismatches, "output"))\n")
                return
            }
            if mismatches > 0 { throw ExitCode(1) }
            return
        }
        session.filesBeingRun = [FileIdentity(reaching: file)]
        if let record { try session.startRecording(to: record) }
        let cells = isTranscript ? Transcript.parse(text).map(\.input) : nil
        let runner = ScriptRunner(session: session, stopsAtFirstFailure: !keepGoing)
        if let cells {
            runner.runCells(cells)
        } else {
            runner.run(lines: text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
        }
        session.cluster.shutdown()
        if let status = session.exitStatus { throw ExitCode(status) }
        if session.hasFailed { throw ExitCode(1) }
    }
}

extension RunCommand {
    /// One line for each way the check's run differs from the recording: its output may differ.
    func checkNotes(header: TranscriptHeader?, running: TranscriptHeader) -> String {
        var notes: [String] = []
        if header?.engines == nil {
            notes.append(
                "\(file) does not say how many engines it was recorded with; checking with \(running.engines ?? 0)"
            )
        } else if let recorded = header?.engines, let engines = running.engines, recorded != engines {
            notes.append(
                "\(file) was recorded with \(Renderer.count(recorded, "engine")); checking with \(engines) (-n \(engines))"
            )
        }
        if let recorded = header?.python, let python = running.python, recorded != python {
            notes.append("\(file) was recorded with Python \(recorded); checking with Python \(python)")
        }
        return notes.map { "note: \($0)\n" }.joined()
    }
}

/// `pxsh magics`: the magics and their help; `--markdown` writes docs/MAGICS.md.
struct MagicsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "magics", abstract: "List the magics of the REPL.")

    @Flag(help: "Print the reference as Markdown (docs/MAGICS.md).") var markdown = false
    @Argument(help: "Show one magic's help.") var magic: String?

    func run() throws {
        if markdown { return Terminal.write(MagicCatalog.markdown) }
        if let magic {
            guard let entry = MagicCatalog.named(magic) else { throw ValidationError("no magic \(magic)") }
            return Terminal.write(entry.help)
        }
        Terminal.write(MagicCatalog.overview + "\n")
    }
}
