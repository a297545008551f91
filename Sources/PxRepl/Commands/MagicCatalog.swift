/// Every magic's name, synopsis and help: the one source for `%help`, tab completion and docs/MAGICS.md.
public struct Magic: Sendable {
    public var name: String
    public var synopsis: String
    public var summary: String
    /// Flags with their help, as completion offers them.
    public var flags: [(flag: String, help: String)]
    public var details: String

    public init(
        _ name: String,
        _ synopsis: String,
        _ summary: String,
        flags: [(String, String)] = [],
        details: String = ""
    ) {
        self.name = name
        self.synopsis = synopsis
        self.summary = summary
        self.flags = flags.map { (flag: $0.0, help: $0.1) }
        self.details = details
    }

    /// The help text of `%help NAME`.
    public var help: String {
        var text = "\(synopsis)\n\n\(summary)\n"
        if !flags.isEmpty {
            let width = flags.map(\.flag.count).max() ?? 0
            text += "\n" + flags.map { "  \($0.flag.padded(to: width))  \($0.help)" }.joined(separator: "\n") + "\n"
        }
        if !details.isEmpty { text += "\n\(details)\n" }
        return text
    }
}

public enum MagicCatalog {
    static let targetsHelp = "engines: all, 0,2, 0-3, 1:3, ::2, -1"
    /// What %add, %remove and %restart do to `rank` and `size`.
    static let rankRule =
        "Afterwards every engine's size is the number of engines and the ranks are 0..size-1: engines keep "
        + "their rank where they can, and a line names those whose rank changed. %engines shows ids and ranks. "
        + mpiRankRule
    /// Why ranks of an MPI job never change.
    static let mpiRankRule =
        "Engines that mpiexec or srun started keep the rank it gave them, which is MPI.COMM_WORLD.rank and "
        + "cannot change."
    /// The one rule of `-o NAME`, in the help of every magic that takes it.
    static let nameRule =
        "-o NAME names the AsyncResult (for %wait, %result, %pxresult, %timeline and %abort NAME). "
        + "Where the values come home (%map, %apply), the local variable NAME also holds the values: "
        + "at once when the command blocks; with --noblock, from the first command after they are in "
        + "(or when %wait, %result or %pxresult NAME sees them). %px values stay on the engines "
        + "(%pull them), so %px -o only names the result. Python code gets the AsyncResult itself with "
        + "px.result(\"NAME\") once it is done: a concurrent.futures.Future with its values (an "
        + "ExecuteReply per engine for %px), errors, output and timings."
    /// Which value a global that a function uses has on the engines (%map, %apply; docs/PYTHON_API.md).
    static let capturedGlobalsRule =
        "A global it uses has its local value at each call, unless that name was set on the engines "
        + "(%px, %push), whose value is kept: pass a value as an argument to always use the local one "
        + "(docs/PYTHON_API.md, \"Functions and values\")."
    /// How the inspection magics reach AsyncResults made from Python (`px`), in their help.
    static let pythonResultsRule =
        "NAME may also be a local variable that holds an AsyncResult made from Python (px), "
        + "when no magic result has that name: waiting on it, Ctrl-C interrupts its engines."

    public static let all: [Magic] = [
        Magic(
            "%px",
            "%px [flags] CODE",
            "Run CODE on the target engines.",
            flags: [
                ("-t, --targets SPEC", targetsHelp), ("--block", "wait for the result (the default)"),
                ("--noblock", "return at once with an AsyncResult"), ("--local", "also run CODE locally"),
                ("--stream", "print output as it arrives"), ("--no-stream", "print output when done"),
                ("--group-outputs=engine|order|type", "how outputs are grouped"),
                ("-o NAME", "name the AsyncResult (its values stay on the engines)"),
                ("--timeout S", "stop waiting after S seconds"),
                ("--setup", "%restart --replay replays the whole cell (see %restart)"),
            ],
            details:
                "Output is grouped by engine; identical output from several engines is merged, as [stdout:0-3].\n\n"
                + nameRule
        ),
        Magic(
            "%%px",
            "%%px [flags]",
            "Run the whole cell (up to a blank line) on the target engines. Flags as %px."
        ),
        Magic("%autopx", "%autopx", "Toggle: every plain line goes to the engines, as with %px."),
        Magic(
            "%pxconfig",
            "%pxconfig [flags]",
            "Set the defaults of %px: --targets, --block/--noblock, --local, "
                + "--stream/--no-stream, --group-outputs, --timeout."
        ),
        Magic(
            "%pxresult",
            "%pxresult [NAME]",
            "Show the outputs of the last (or the named) AsyncResult, waiting if needed: a %px's outputs, "
                + "a %map's or %apply's values as Out[n] of the command that started it.",
            details: pythonResultsRule
        ),
        Magic(
            "%push",
            "%push [-t SPEC] NAME... | NAME=EXPR...",
            "Copy local values (or local expressions) to the engines.",
            flags: [("-t, --targets SPEC", targetsHelp)]
        ),
        Magic(
            "%pull",
            "%pull [-t SPEC] NAME...",
            "Show each engine's value and store it locally as a list with one item per engine.",
            flags: [("-t, --targets SPEC", targetsHelp)]
        ),
        Magic(
            "%scatter",
            "%scatter [-t SPEC] NAME [EXPR]",
            "Split a local sequence (list, tuple, range, numpy array) into contiguous blocks, one per engine.",
            flags: [("-t, --targets SPEC", targetsHelp)],
            details: "A dict or a set is refused with a TypeError (a dict would send its keys alone, a set "
                + "in no set order): scatter list(d.items()) or sorted(s)."
        ),
        Magic(
            "%gather",
            "%gather [-t SPEC] NAME",
            "Concatenate the engines' blocks of NAME into the local NAME.",
            flags: [("-t, --targets SPEC", targetsHelp)]
        ),
        Magic(
            "%map",
            "%map [flags] F SEQ [SEQ...]",
            "Load-balanced map of the local function F over the local iterable SEQ (or over several, as map(F, XS, YS)).",
            flags: [
                ("--chunksize K|auto", "items per task (auto: about 4 tasks per engine)"),
                ("--unordered", "results in completion order"), ("--noblock", "return at once"),
                ("-o NAME", "name the AsyncResult; the local NAME holds the values"),
                ("--retries R", "retries of a task whose engine died (default 1)"),
            ],
            details: "F is a function, lambda, closure or builtin; it travels by value. " + capturedGlobalsRule
                + " The results are stored in _. Over several sequences, F gets one item of each and the map stops at the shortest. "
                + "What F prints is shown per engine, before the values. "
                + "An error names the item that raised it: [1:map item 7] ValueError: ... (the items of a chunk "
                + "whose engine died: [1:map items 8-11] EngineError: ...). After Ctrl-C, _ holds the values of "
                + "the tasks that had finished ([] if none had).\n\n" + nameRule
        ),
        Magic(
            "%apply",
            "%apply [-o NAME] F ARGS...",
            "One load-balanced call F(ARGS...) of a local function.",
            flags: [("-o NAME", "name the AsyncResult; the local NAME holds the value")],
            details: "F travels by value, as for %map. " + capturedGlobalsRule + "\n\n" + nameRule
        ),
        Magic(
            "%jobs",
            "%jobs",
            "List the AsyncResults: name, kind, targets, state, progress, elapsed.",
            details: "Results made from Python at the prompt (px) are listed too, under the name of the local "
                + "variable that holds one (else px#N), with kinds like px map."
        ),
        Magic(
            "%wait",
            "%wait [NAME] [--timeout S]",
            "Wait for the last (or the named) AsyncResult.",
            flags: [("--timeout S", "give up after S seconds")],
            details: pythonResultsRule
        ),
        Magic(
            "%abort",
            "%abort [NAME]",
            "Cancel the tasks of an AsyncResult that have not started, queued on an engine or not; running ones go on.",
            details: pythonResultsRule
        ),
        Magic(
            "%result",
            "%result NAME [-o VAR]",
            "Show a result, as %pxresult does; with -o, store the values of a %map or %apply locally as VAR.",
            flags: [("-o VAR", "the local variable")],
            details: """
                The local namespace keeps the values of the last %map or %apply, and of the last result \
                of each -o NAME, so -o can store those again; older values are freed once no variable \
                of yours holds them. An older result still shows its values, as they came.
                """
        ),
        Magic(
            "%timeline",
            "%timeline [NAME]",
            "Draw a per-engine Gantt chart of an AsyncResult's tasks, with wall time, serial time and speed-up.",
            details: pythonResultsRule
        ),
        Magic(
            "%engines",
            "%engines",
            "The engine table: id, rank, pid, state, queued tasks, memory, host.",
            details: "An engine on another host that is lost (killed, its link cut, silent for 5 s, or its "
                + "launcher's job ended) is reported once and leaves the cluster: the table no longer lists it, "
                + "and the other engines get their rank (0..size-1) and size anew, with one line naming those "
                + "whose rank changed. " + mpiRankRule + " A local engine that dies is restarted instead."
        ),
        Magic("%interrupt", "%interrupt [SPEC]", "Send Ctrl-C (KeyboardInterrupt) to the busy target engines."),
        Magic(
            "%restart",
            "%restart [SPEC] [--replay] | %restart --list",
            "Restart engines with the same rank; their variables are lost. Each ends as Python ends (atexit "
                + "handlers, open files flushed); one that has not exited after 2 s is killed.",
            flags: [
                ("--replay", "then replay the session's setup on them, saying what it replays"),
                ("--list", "show what --replay would replay, and restart nothing"),
            ],
            details: "The setup is what %px and %%px sent to all engines that set them up: imports, def and class, "
                + "assignments of functions and modules (lambdas, partials, aliases such as np = numpy), and whole "
                + "cells run with --setup; and %push and %scatter to all engines. Other statements (data, loops, "
                + "prints, sleeps, writes to files) are not replayed: replaying them would redo their work."
        ),
        Magic(
            "%add",
            "%add N",
            "Start N more engines, with ids that no engine of the cluster has had (as in ipyparallel).",
            details: "With the ssh launcher they start on its hosts (dealt over --hosts in turn, one ssh and `pxsh "
                + "engine -n K` per host). An MPI job's size is fixed, and so is a Slurm job's: there %add says so "
                + "and starts nothing (engines can join a Slurm cluster with `srun pxsh engine --connection-file "
                + "FILE`). " + rankRule
        ),
        Magic(
            "%remove",
            "%remove SPEC",
            "Stop and remove engines. Each ends as Python ends; one that has not exited after 2 s is killed.",
            details: rankRule
        ),
        Magic("%who", "%who [SPEC]", "The variables of each engine, side by side."),
        Magic(
            "%record",
            "%record FILE | %record --stop",
            "Record this session as a transcript (.pxt) in FILE.",
            details: "The transcript starts with the session so far, from In [1], as IPython's %logstart does, and "
                + "leaves out the %record cells: `pxsh run --check FILE` replays it in a new session and compares "
                + "the output. (After more than 4 MiB of output, the earlier session is not kept, and the "
                + "transcript starts at the %record.)"
        ),
        Magic("%run", "%run FILE", "Run a session file (.px) or the inputs of a transcript (.pxt)."),
        Magic("%help", "%help [MAGIC]", "List the magics, or show one's help (also %MAGIC?, as in IPython)."),
        Magic("%quit", "%quit", "Leave pxsh (also exit, quit, or Ctrl-D). A private cluster shuts down."),
    ]

    /// The magic called `name` (with or without its `%`).
    public static func named(_ name: String) -> Magic? {
        let key = name.hasPrefix("%") ? name : "%" + name
        return all.first { $0.name == key } ?? all.first { $0.name == "%" + key }
    }

    /// Whether `line` opens a cell magic (`%%px`), whose cell runs to the next blank line.
    ///
    /// Any other line starting with `%%` (`%%`, `%%%px`, `%%foo`) is a line of its own, which the
    /// parser rejects as an unknown magic, so the lines after it are not swallowed.
    public static func opensCell(_ line: String) -> Bool {
        let head = line.prefix { !$0.isWhitespace }
        return head == "%%px"
    }

    /// The `%help` overview.
    public static var overview: String {
        let width = all.map(\.name.count).max() ?? 0
        return all.map { "  \($0.name.padded(to: width))  \($0.summary)" }.joined(separator: "\n")
            + "\n\nA plain line runs locally. `%help MAGIC` shows a magic's flags."
    }

    /// docs/MAGICS.md.
    public static var markdown: String {
        var text =
            "# pxsh magics\n\nGenerated from `MagicCatalog.swift` by `pxsh magics --markdown`; `%help` shows the same text.\n"
        for magic in all {
            text += "\n## `\(magic.synopsis)`\n\n\(magic.summary)\n"
            if !magic.flags.isEmpty {
                text += "\n| flag | meaning |\n|---|---|\n"
                text +=
                    magic.flags.map { "| `\($0.flag.replacingPipes)` | \($0.help.replacingPipes) |" }.joined(
                        separator: "\n"
                    ) + "\n"
            }
            if !magic.details.isEmpty { text += "\n\(magic.details)\n" }
        }
        return text
    }
}

extension String {
    func padded(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    fileprivate var replacingPipes: String {
        split(separator: "|", omittingEmptySubsequences: false).joined(separator: "\\|")
    }
}
