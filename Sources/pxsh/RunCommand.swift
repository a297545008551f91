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
            A session file holds what one would type: blank lines end cells, # starts a comment.
            The first failing command stops the run with exit status 1, unless --keep-going.
            With --check, the file's inputs are re-run and their output compared with the recorded
            output; '...' in a recorded line matches anything within that line. A mismatch prints a diff
            and exits 1.
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
        let text: String
        do {
            text = try SessionFile.read(file)
        } catch {
            throw ValidationError("cannot read \(file): \(error)")
        }
        var terminal = Terminal.current(noColor: noColor)
        var cluster = self.cluster
        if check {
            // Checked output must not depend on the terminal: no colour, a fixed width, and the
            // engine count the transcript was recorded with.
            terminal.usesColor = false
            terminal.width = 80
            if cluster.n == nil { cluster.n = TranscriptFormat.engineCount(in: text) }
        }
        var captured = ""
        let session = try cluster.connect(terminal: terminal)
        defer { session.cluster.shutdown() }
        if check {
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
                Terminal.write("\(file): updated \(mismatches) output(s)\n")
                return
            }
            if mismatches > 0 { throw ExitCode(1) }
            return
        }
        if let record { try session.startRecording(to: record) }
        let cells = SessionFile.isTranscript(text) ? Transcript.parse(text).map(\.input) : nil
        let runner = ScriptRunner(session: session, stopsAtFirstFailure: !keepGoing)
        if let cells {
            runner.runCells(cells)
        } else {
            runner.run(lines: text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
        }
        session.cluster.shutdown()
        if session.hasFailed { throw ExitCode(1) }
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
