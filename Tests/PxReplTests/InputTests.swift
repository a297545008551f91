import PxPlatform
import Testing

@testable import PxRepl

#if canImport(Glibc)
import Glibc
#endif

@Suite struct CellReaderTests {
    /// A stand-in for the home engine's is_complete: compound statements need a blank line or a dedent.
    static func isComplete(_ code: String) -> Bool {
        let lines = code.split(separator: "\n", omittingEmptySubsequences: false)
        if code.hasSuffix("\n\n") || code.hasSuffix("\n") && lines.count > 2 {
            return !code.contains("(") || code.contains(")")
        }
        if lines.first?.hasSuffix(":") == true { return false }
        return code.filter { $0 == "(" }.count == code.filter { $0 == ")" }.count
    }

    func cells(_ text: String) -> [String] {
        SessionFile.cells(of: text, isComplete: Self.isComplete)
    }

    @Test func splitsMagicsPythonAndCells() {
        let text = """
            # a comment
            x = 1
            %px print(x)

            def f(v):
                return v + 1

            %%px -t 0
            a = 1
            b = 2

            print(f(x))
            """
        #expect(
            cells(text) == [
                "x = 1", "%px print(x)", "def f(v):\n    return v + 1", "%%px -t 0\na = 1\nb = 2", "print(f(x))",
            ]
        )
    }

    @Test func aDedentedLineEndsACompoundStatement() {
        #expect(
            cells("for i in range(3):\n    print(i)\nprint('done')") == [
                "for i in range(3):\n    print(i)", "print('done')",
            ]
        )
    }

    @Test func openBracketsContinue() {
        #expect(cells("x = (1,\n     2)\ny = 3") == ["x = (1,\n     2)", "y = 3"])
    }

    /// Each question is a round trip to the home engine: a continuation line is not asked about on its own
    /// (the cell ends at a blank line or at the next statement, which is asked about instead).
    @Test func continuationLinesCostNoQuestion() {
        var asked: [String] = []
        let cells = SessionFile.cells(of: "x = (1,\n     2,\n     3)\ny = 3") {
            asked.append($0)
            return Self.isComplete($0)
        }
        #expect(cells == ["x = (1,\n     2,\n     3)", "y = 3"])
        #expect(asked == ["x = (1,", "x = (1,\n     2,\n     3)\n\n", "y = 3"])
    }

    /// Only `%%px` opens a cell: another `%%` line is a (bad) magic of its own, and the lines after it run.
    @Test(arguments: ["%%", "%%%px", "%%foo", "%%pxx"])
    func anUnknownCellMagicIsALineOfItsOwn(magic: String) {
        #expect(cells("\(magic)\nx = 1\ny = 2") == [magic, "x = 1", "y = 2"])
    }
}

@Suite struct TranscriptTests {
    let text = """
        # How errors look.
        In [1]: x = 1
        In [2]: %px print(rank)
        [stdout:0] 0
        [stdout:1] 1

        # A comment between entries.
        [px 0-1] In [3]: def f():
           ...:     return os.getpid()
        Out[0:2]: ...
        """

    @Test func parsesInputsAndExpectedOutput() {
        let entries = Transcript.parse(text)
        #expect(entries.map(\.input) == ["x = 1", "%px print(rank)", "def f():\n    return os.getpid()"])
        #expect(entries[1].expected == ["[stdout:0] 0", "[stdout:1] 1", ""])
        #expect(entries[2].expected == ["Out[0:2]: ..."])
    }

    @Test func ellipsisMatchesWithinALine() {
        #expect(Transcript.lineMatches(pattern: "pid ... on engine ...", "pid 1234 on engine 2"))
        #expect(Transcript.lineMatches(pattern: "took ...s", "took 1.2s"))
        #expect(!Transcript.lineMatches(pattern: "took ...s", "took 1.2 ms!"))
        #expect(Transcript.lineMatches(pattern: "...", ""))
    }

    @Test func trailingBlankLinesAndColoursDoNotCount() {
        #expect(Transcript.matches(expected: ["[stdout:0] 0", "", ""], actual: "\u{1B}[36m[stdout:0]\u{1B}[0m 0\n"))
        #expect(!Transcript.matches(expected: ["[stdout:0] 0"], actual: "[stdout:0] 1\n"))
        #expect(Transcript.diff(expected: ["a", "b"], actual: "a\nc\n") == "  a\n- b\n+ c\n")
    }

    @Test func promptsAreRecognised() {
        #expect(Prompt.parse("In [12]: x") == "x")
        #expect(Prompt.parse("[px 0-3] In [4]: print(1)") == "print(1)")
        #expect(Prompt.parse("Out[1]: 2") == nil)
        #expect(Prompt.parse("In [x]: 2") == nil)
    }
}

@Suite struct MagicCatalogTests {
    @Test func everyMagicHasHelpAndParsesItsOwnName() {
        for magic in MagicCatalog.all {
            #expect(!magic.summary.isEmpty)
            #expect(magic.help.contains(magic.synopsis))
        }
        #expect(MagicCatalog.named("push")?.name == "%push")
        #expect(MagicCatalog.markdown.contains("## `%map [flags] F SEQ [SEQ...]`"))
    }
}

@Suite struct SessionFileLineEndTests {
    /// A file saved on Windows reads as Python reads it: no byte order mark, `\r\n` as `\n`.
    @Test func crlfLineEndsAndAByteOrderMarkReadAsPythonReadsThem() throws {
        let text = SessionFile.normalized("\u{FEFF}x = 1\r\n%px print(x)\r\nfor i in y:\r\n    f(i)\r\n\r\nz = 2\r\n")
        #expect(text == "x = 1\n%px print(x)\nfor i in y:\n    f(i)\n\nz = 2\n")
        #expect(SessionFile.isTranscript(SessionFile.normalized("In [1]: x\r\nOut[1]: 1\r\n")))
    }
}

@Suite struct TranscriptOutputEscapeTests {
    /// Output that looks like a prompt, a continuation or a comment is written with a `\` in front and read
    /// back without it, so `--check` neither runs it nor skips it.
    @Test func outputThatLooksLikeInputIsEscapedAndReadBack() {
        let printed = [
            "In [7]: fake prompt", "   ...: fake continuation", "# a comment?", "\\ a backslash", "plain", "#hashtag",
        ]
        var lines = TranscriptOutputLines()
        // Output streams in pieces that need not end lines.
        let written =
            lines.add(printed.joined(separator: "\n").replacing("tag", with: "")) + lines.add("tag\n") + lines.finish()
        #expect(
            written
                == "\\In [7]: fake prompt\n\\   ...: fake continuation\n\\# a comment?\n\\\\ a backslash\nplain\n#hashtag\n"
        )
        let transcript = "In [1]: show()\n" + written + "In [2]: 1\nOut[2]: 1\n"
        let entries = Transcript.parse(transcript)
        #expect(entries.map(\.input) == ["show()", "1"])
        #expect(entries[0].expected == printed)
        #expect(Transcript.matches(expected: entries[0].expected, actual: printed.joined(separator: "\n") + "\n"))
    }

    @Test func anUnfinishedLineIsEscapedWhenTheNextInputComes() {
        var lines = TranscriptOutputLines()
        #expect(lines.add("In [3") == "")
        #expect(lines.add("]: x") == "")
        #expect(lines.finish() == "\\In [3]: x")
        #expect(lines.finish() == "")
    }

    @Test func updatingWritesNewOutputEscapedAndKeepsWhatStillMatches() {
        let text = "In [1]: f()\n\\# kept\nold\n# a real comment\nIn [2]: 2"
        let updated = Transcript.updated(text, actual: ["# kept\nIn [9]: new\n", nil])
        #expect(updated == "In [1]: f()\n\\# kept\n\\In [9]: new\n# a real comment\nIn [2]: 2")
    }
}

@Suite struct TranscriptHeaderTests {
    @Test func theHeaderRoundTripsAndOldHeadersStillCount() {
        let header = TranscriptHeader(engines: 4, width: 80, python: "3.11.7")
        #expect(header.line == "# pxsh transcript: engines=4 width=80 python=3.11")
        #expect(TranscriptHeader(in: "# a title\n" + header.line + "\nIn [1]: x") == header)
        #expect(TranscriptHeader(in: "# recorded by pxsh with -n 3\nIn [1]: x")?.engines == 3)
        #expect(TranscriptHeader(in: "In [1]: x\nOut[1]: 1") == nil)
        // The header is a comment: it is no one's expected output.
        #expect(Transcript.parse(header.line + "\nIn [1]: 1\nOut[1]: 1").map(\.expected) == [["Out[1]: 1"]])
    }

    /// A teacher's laptop has 2 cores: every example must say how many engines it needs.
    @Test func everyExampleTranscriptSaysWhatItsOutputDependsOn() throws {
        let examples = URLPath.repositoryRoot(from: #filePath) + "/examples"
        let names = try directoryEntries(examples).filter { $0.hasSuffix(".pxt") }
        #expect(names.count >= 8)
        for name in names {
            let text = String(decoding: try readFile(examples + "/" + name), as: UTF8.self)
            let header = TranscriptHeader(in: text)
            #expect(header?.engines != nil && header?.width != nil && header?.python != nil, "\(name)")
        }
    }
}

@Suite struct DocumentationTests {
    /// docs/MAGICS.md is generated from the catalog; regenerate it with `pxsh magics --markdown > docs/MAGICS.md`.
    @Test func magicsReferenceIsUpToDate() throws {
        let repository = URLPath.repositoryRoot(from: #filePath)
        let documented = try String(decoding: readFile(repository + "/docs/MAGICS.md"), as: UTF8.self)
        #expect(
            documented == MagicCatalog.markdown,
            "docs/MAGICS.md is stale: run `pxsh magics --markdown > docs/MAGICS.md`"
        )
    }
}

enum URLPath {
    static func repositoryRoot(from file: String) -> String {
        var parts = file.split(separator: "/", omittingEmptySubsequences: false)
        while let last = parts.last, last != "Tests" { parts.removeLast() }
        parts.removeLast()
        return parts.joined(separator: "/")
    }
}

func readFile(_ path: String) throws -> [UInt8] {
    try PxPlatform.FileDescriptor.readAll(path)
}

func directoryEntries(_ path: String) throws -> [String] {
    guard let directory = opendir(path) else { throw PxPlatform.SystemError("opendir \(path)") }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
        }
        if !name.hasPrefix(".") { names.append(name) }
    }
    return names
}

@Suite struct PythonLineTests {
    static let certain = [
        "x = 1", "print(x)", "f(1, 2)[0]", "d = {'a': 1, \"b\": [1, 2]}", "x[1:2] = y", "s = 'a # b'",
        "t = 'it\\'s'", "x = 1  # a comment with ( and :", "y = lambda_ + 1", "import os, sys",
        "g = (lambda v: v)(2)", "m = (a @ b) if False else c", "b = b'x'", "r = r'\\d'", "u = 'ü: (' ",
        "1/0", "x = 1;", "del x", "pass", "return", "x = [i for i in range(3) if i]",
        // A `:` or `@` that cannot open a block, and f-strings whose braces balance.
        "x: int = 1", "f\"{x}\"", "rf'{x}'", "lambda: 0", "F'{\"a\"}'", "m = a @ b", "f = lambda v: v + 1",
        "print(f'{x:>10} {y!r}')", "s = f'{{}}'", "for_each = 1", "iffy: str = 'a'", "y := 1", "über = {1: 2}",
    ]
    static let uncertain = [
        "def f():", "if x: pass", "for i in range(3):", "x = (1,", "x = [1,", "s = '''abc", "s = \"\"\"abc\"\"\"",
        "x = 1 + \\", "@decorator", "    x = 1", "x = (1))", "s = 'open", "a\nb", "", "class A: pass", "try:",
        "else:", "x = {",
        // Compound statements, however they are spelled, and f-strings that may not have closed.
        "while(True): pass", "if(x): y", "elif x:", "except E as e:", "finally:", "with open(p) as f: pass",
        "async def g(): pass", "match x:", "case [a, b]:", "f'{'", "f'{(1,'", "f\"{d[\"k\"]}\"", "f'{{'",
    ]

    @Test func linesWithoutOpenBracketsStringsOrBlocksAreCertain() {
        for line in Self.certain { #expect(PythonLine.isCertainlyComplete(line), "\(line)") }
        for line in Self.uncertain { #expect(!PythonLine.isCertainlyComplete(line), "\(line)") }
    }

    /// Every line this says is complete, the home engine's own check (the runtime's `_check_complete`) does
    /// not call incomplete.
    @Test func agreesWithTheEngineRuntime() throws {
        let lines = (Self.certain + Self.uncertain).filter(PythonLine.isCertainlyComplete)
        let answers = try Self.runtimeAnswers(lines, "print(runtime._check_complete(line)[0])")
        #expect(answers.count == lines.count)
        for (line, answer) in zip(lines, answers) { #expect(answer != "incomplete", "\(line)") }
    }

    static let withoutSetup = ["pass", "print(1)", "x < 1", "f(x)", "for i in range(3): print(i)", "y[0]"]
    static let withSetup = [
        "import os", "from math import pi", "def f(): pass", "class A: pass", "f = lambda: 0", "async def g(): pass",
        "x = 1", "x += 1", "@deco\ndef h(): pass",
    ]

    /// `%px` cells this says hold no setup, the home engine's parser (`_op_setup_part`) finds none in.
    @Test func cellsWithoutSetupAgreeWithTheEngineRuntime() throws {
        for cell in Self.withSetup { #expect(!PythonLine.certainlyHoldsNoSetup(cell), "\(cell)") }
        let cells = (Self.withoutSetup + Self.withSetup).filter(PythonLine.certainlyHoldsNoSetup)
        #expect(cells == Self.withoutSetup)
        let answers = try Self.runtimeAnswers(cells, "print(repr(runtime._op_setup_part([line.encode()])))")
        #expect(answers == cells.map { _ in "[b'ok', b'']" })
    }

    /// What `statement` prints about each line, run by the engine runtime in a plain python3.
    static func runtimeAnswers(_ lines: [String], _ statement: String) throws -> [Substring] {
        let source = URLPath.repositoryRoot(from: #filePath) + "/Sources/PxEngine/Runtime/pxsh_runtime.py"
        let searchPath: String = getenv("PATH").map { String(cString: $0) } ?? ""
        let candidates = searchPath.split(separator: ":").map { "\($0)/python3" }
        let executable = try #require(candidates.first { access($0, X_OK) == 0 }, "no python3 on PATH")
        let script = """
            import importlib.util, sys
            spec = importlib.util.spec_from_file_location("_pxsh", sys.argv[1])
            runtime = importlib.util.module_from_spec(spec); spec.loader.exec_module(runtime)
            for line in sys.stdin.read().split("\\0"):
                \(statement)
            """
        // One file per statement: the suite's tests run at the same time in this process.
        let answersPath = "/tmp/pxsh-python-line-\(getpid())-\(UInt(bitPattern: statement.hashValue))"
        defer { unlink(answersPath) }
        let answersFile = try FileDescriptor.open(answersPath, flags: O_WRONLY | O_CREAT | O_TRUNC)
        let input = try FileDescriptor.pipe()
        let pid = try ProcessSpawner.spawn(
            executable,
            arguments: ["-c", script, source],
            output: answersFile,
            standardInput: input.read
        )
        input.read.close()
        answersFile.close()
        try input.write.writeAll(lines.joined(separator: "\0"))
        input.write.close()
        #expect(ProcessSpawner.wait(pid) == .exited(0))
        return String(decoding: try FileDescriptor.readAll(answersPath), as: UTF8.self).split(separator: "\n")
    }
}
