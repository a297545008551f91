import PxPlatform
import PxTransport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension EndToEnd {
    /// Magics do what their help says: `-o`, `%result`, transcripts, error labels, usage errors.
    @Suite struct Magics {
        // MARK: - Transcripts

        /// `--check` of a file that is not a transcript (a session file, an empty file) is a usage
        /// error: a check that checks nothing must not pass.
        @Test(arguments: ["%px print(rank)\n", "", "hello\n"])
        func checkingAFileThatIsNotATranscriptIsAUsageError(text: String) throws {
            let directory = try TemporaryDirectory()
            try directory.write(text, to: "session.px")
            let check = try Pxsh.run(["run", "--check", directory.path + "/session.px", "-n", "1"])
            expectStatus(check, .exited(2))
            #expect(check.stderr.contains("is not a transcript"), "\(check.transcript)")
            expectNoLeftovers(check)
        }

        /// A transcript says what its output depends on, and `--check` reproduces it without `-n`.
        @Test func aRecordedTranscriptChecksWithItsOwnEngineCountAndSaysWhenToldOtherwise() throws {
            let directory = try TemporaryDirectory()
            let session = directory.path + "/ranks.px"
            let transcript = directory.path + "/ranks.pxt"
            try directory.write("%px print(rank, size)\n%map lambda x: x * 10 range(3)\n", to: "ranks.px")
            let record = try Pxsh.run(["run", session, "--record", transcript, "-n", "3"])
            expectStatus(record, .exited(0))
            let text = try #require(directory.contents(of: "ranks.pxt"), "\(record.transcript)")
            let header = try #require(text.split(separator: "\n").first.map(String.init))
            #expect(header.hasPrefix("# pxsh transcript: engines=3 width="), "\(text)")
            #expect(header.contains(" python=3."), "\(text)")
            #expect(text.contains("[stdout:2] 2 3"), "\(text)")

            // No -n: the recorded count, whatever the number of cores.
            let check = try Pxsh.run(["run", "--check", transcript])
            expectStatus(check, .exited(0))
            #expect(check.stdout.contains("2 passed, 0 failed"), "\(check.transcript)")
            #expect(!check.stdout.contains("note:"), "\(check.transcript)")

            // -n wins, and the check says that the counts differ.
            let other = try Pxsh.run(["run", "--check", transcript, "-n", "2"])
            expectStatus(other, .exited(1))
            #expect(
                other.stdout.contains("note: \(transcript) was recorded with 3 engines; checking with 2 (-n 2)"),
                "\(other.transcript)"
            )
        }

        /// A session file or transcript saved on Windows (CRLF, a byte order mark) runs as Python would run it.
        @Test func crlfFilesRunAndCheck() throws {
            let directory = try TemporaryDirectory()
            try directory.write("\u{FEFF}x = 1\r\n%px print('crlf', rank)\r\nprint('x =', x)\r\n", to: "crlf.px")
            let run = try Pxsh.run(["run", directory.path + "/crlf.px", "-n", "1"])
            expectStatus(run, .exited(0))
            #expect(run.stdout.split(separator: "\n") == ["[stdout:0] crlf 0", "x = 1"], "\(run.transcript)")

            try directory.write("# pxsh transcript: engines=1\r\nIn [1]: print(6 * 7)\r\n42\r\n", to: "crlf.pxt")
            let check = try Pxsh.run(["run", "--check", directory.path + "/crlf.pxt"])
            expectStatus(check, .exited(0))
            #expect(check.stdout.contains("1 passed, 0 failed"), "\(check.transcript)")
        }

        /// A transcript is never written over the session file that is running: that would lose its source.
        @Test func aTranscriptMayNotOverwriteTheSessionFileThatRuns() throws {
            let directory = try TemporaryDirectory()
            let session = directory.path + "/me.px"
            let source = "print(1)\n%record \(session)\nprint(2)\n"
            try directory.write(source, to: "me.px")
            let overwrite = try Pxsh.run(["run", session, "--record", session, "-n", "1"])
            expectStatus(overwrite, .exited(2))
            #expect(overwrite.stderr.contains("that is the session file being run"), "\(overwrite.transcript)")
            #expect(directory.contents(of: "me.px") == source)

            let inside = try Pxsh.run(["run", session, "-n", "1"])
            expectStatus(inside, .exited(1))
            #expect(
                inside.stdout.contains("%record \(session): that is the session file being run"),
                "\(inside.transcript)"
            )
            #expect(directory.contents(of: "me.px") == source)
        }

        /// Output that looks like a prompt, a continuation or a comment is recorded escaped: `--check` of the
        /// transcript passes, and never runs printed text as input.
        @Test func outputThatLooksLikeInputChecksAsOutputAndIsNeverRun() throws {
            let directory = try TemporaryDirectory()
            let session = directory.path + "/tricky.px"
            let transcript = directory.path + "/tricky.pxt"
            try directory.write(
                """
                print("In [7]: open('\(directory.path)/ran', 'w').close()")
                print("# looks like a comment")
                print("   ...: fake continuation")
                %px print("In [1]: on an engine")
                print("end")

                """,
                to: "tricky.px"
            )
            let record = try Pxsh.run(["run", session, "--record", transcript, "-n", "1"])
            expectStatus(record, .exited(0))
            let text = try #require(directory.contents(of: "tricky.pxt"), "\(record.transcript)")
            #expect(text.contains("\nIn [2]: print(\"# looks like a comment\")\n\\# looks like a comment\n"), "\(text)")

            let check = try Pxsh.run(["run", "--check", transcript])
            expectStatus(check, .exited(0))
            #expect(check.stdout.contains("5 passed, 0 failed"), "\(check.transcript)")
            #expect(directory.contents(of: "ran") == nil, "printed text was run as input")
        }

        /// `%record` in the middle of a session writes the session from its start and leaves out the `%record`
        /// cells, so that `--check` of the file, in a new session, passes.
        @Test func aTranscriptRecordedMidSessionChecksAsItIs() throws {
            let directory = try TemporaryDirectory()
            let transcript = directory.path + "/mid.pxt"
            let run = try Pxsh.script(
                """
                x = 5
                %px print("engine", rank)
                %record \(transcript)
                x * 2
                %px y = rank * 3
                %px y
                %record --stop
                x + 1
                """,
                engines: 2
            )
            expectStatus(run, .exited(0))
            let text = try #require(directory.contents(of: "mid.pxt"), "\(run.transcript)")
            #expect(text.contains("In [1]: x = 5\nIn [2]: %px print(\"engine\", rank)\n"), "\(text)")
            #expect(text.contains("In [4]: x * 2\nOut[4]: 10\n"), "\(text)")
            #expect(!text.contains("%record") && !text.contains("recording"), "\(text)")
            #expect(!text.contains("x + 1"), "\(text)")

            let check = try Pxsh.run(["run", "--check", transcript])
            expectStatus(check, .exited(0))
            #expect(check.stdout.contains("5 passed, 0 failed"), "\(check.transcript)")
        }

        // MARK: - Help and defaults

        /// `%name?` shows the magic's help, as in IPython; `%pxconfig -t` refuses engines that do not exist,
        /// when it is given, rather than at every `%px` after it.
        @Test func aQuestionMarkShowsHelpAndPxconfigRefusesMissingEngines() throws {
            let run = try Pxsh.script(
                """
                %px?
                %pxconfig -t 99
                %px print("ran on", rank)
                """,
                engines: 2
            )
            #expect(run.lines.contains("%px [flags] CODE"), "\(run.transcript)")
            #expect(!run.transcript.contains("unknown magic"), "\(run.transcript)")
            #expect(run.transcript.contains("no engine 99 (the engines are 0,1)"), "\(run.transcript)")
            #expect(run.lines.contains("[stdout:0] ran on 0"), "\(run.transcript)")
            #expect(run.lines.contains("[stdout:1] ran on 1"), "\(run.transcript)")
        }

        /// `%apply` and `%map` run their function in the engine's namespace: it sees `rank` and the engine's
        /// imports, as a pushed function and px's do.
        @Test func applyAndMapFunctionsSeeTheEnginesNamespace() throws {
            let run = try Pxsh.script(
                """
                %px import math
                %apply lambda: (rank, math.floor(2.5))
                %map --chunksize 1 lambda x: math.floor(x + 0.5) + 10 * size range(3)
                """,
                engines: 2
            )
            #expect(run.transcript.contains(", 2)"), "\(run.transcript)")
            #expect(run.lines.contains("Out[3]: [20, 21, 22]"), "\(run.transcript)")
            #expect(!run.transcript.contains("NameError"), "\(run.transcript)")
        }

        /// A function's globals have the values they have at the prompt when it is called, not those of the
        /// first call; a name set on the engines with `%px` keeps the engines' value.
        @Test func mapAndApplySeeTheValuesTheirGlobalsHaveAtEachCall() throws {
            let run = try Pxsh.script(
                """
                k = 7
                %map lambda x: x * k range(3)
                k = 3
                %map lambda x: x * k range(3)
                %apply lambda: -k
                lv = px.load_balanced_view()
                res = []
                for scale in (1, 10, 100): res.append(lv.map_sync(lambda x: x * scale, range(3)))

                res
                %px k = 100 + rank
                k = 5
                px[:].apply_sync(lambda: k)
                """,
                engines: 2
            )
            #expect(run.lines.contains("Out[2]: [0, 7, 14]"), "\(run.transcript)")
            #expect(run.lines.contains("Out[4]: [0, 3, 6]"), "\(run.transcript)")
            #expect(run.lines.contains("Out[5]: -3"), "\(run.transcript)")
            #expect(run.lines.contains("Out[9]: [[0, 1, 2], [0, 10, 20], [0, 100, 200]]"), "\(run.transcript)")
            #expect(run.lines.contains("Out[12]: [100, 101]"), "\(run.transcript)")
        }

        /// IPython's shell and help lines work at the prompt and in `%px`: `!cmd` with Python values
        /// filled in, `files = !cmd`, `obj?` and `obj??`.
        @Test func shellAndHelpLinesWorkLocallyAndOnEngines() throws {
            let run = try Pxsh.script(
                """
                name = "local"
                !echo shell says {name}
                words = !printf 'a\\nb\\n'
                print(words)
                %px !echo engine {rank} of {size}
                def twice(x):
                    "Doubles x."
                    return 2 * x

                twice?
                twice??
                """,
                engines: 2
            )
            #expect(run.lines.contains("shell says local"), "\(run.transcript)")
            #expect(run.lines.contains("['a', 'b']"), "\(run.transcript)")
            #expect(run.lines.contains("[stdout:0] engine 0 of 2"), "\(run.transcript)")
            #expect(run.lines.contains("[stdout:1] engine 1 of 2"), "\(run.transcript)")
            #expect(run.lines.contains("Signature: twice(x)"), "\(run.transcript)")
            #expect(run.lines.contains("Docstring: Doubles x."), "\(run.transcript)")
            #expect(run.lines.contains("    return 2 * x"), "\(run.transcript)")
            #expect(!run.transcript.contains("SyntaxError"), "\(run.transcript)")
        }

        // MARK: - -o, %result and %pxresult

        @Test func dashOStoresTheValuesUnderNameBlockingOrNot() throws {
            let run = try Pxsh.script(
                """
                %map --noblock -o mn abs range(-3, 0)
                %wait mn
                print("mn", mn)
                %map -o mb abs range(-2, 0)
                print("mb", mb)
                %apply -o ap divmod 17 5
                print("ap", ap)
                %map --noblock -o later lambda x: x + 1 [1, 2]
                %wait later
                print("later", later)
                """,
                engines: 2
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("mn [3, 2, 1]"), "\(run.transcript)")
            #expect(run.lines.contains("mb [2, 1]"), "\(run.transcript)")
            #expect(run.lines.contains("ap (3, 2)"), "\(run.transcript)")
            #expect(run.lines.contains("later [2, 3]"), "\(run.transcript)")
            #expect(!run.output.contains("NameError"), "\(run.transcript)")
        }

        @Test func resultAndPxresultShowAMapsValuesAndAnApplysAsTheApplyDid() throws {
            let run = try Pxsh.script(
                """
                %map -o mm abs range(-3, 0)
                %result mm
                %pxresult mm
                %apply -o aa divmod 17 5
                %result aa
                %result mm -o again
                print("again", again)
                %result aa -o pair
                print("pair", pair)
                """,
                engines: 2
            )
            expectStatus(run, .exited(0))
            // The %map was In [1] and the %apply In [4]: their values keep those labels.
            #expect(run.lines.filter { $0 == "Out[1]: [3, 2, 1]" }.count == 3, "\(run.transcript)")
            #expect(run.lines.filter { $0 == "Out[4]: (3, 2)" }.count == 2, "\(run.transcript)")
            #expect(!run.output.contains("<AsyncResult"), "\(run.transcript)")
            // -o of a result whose values came home already stores them again.
            #expect(run.lines.contains("again = [3, 2, 1]"), "\(run.transcript)")
            #expect(run.lines.contains("again [3, 2, 1]"), "\(run.transcript)")
            #expect(run.lines.contains("pair (3, 2)"), "\(run.transcript)")
            #expect(!run.output.contains("Out[0:"), "\(run.transcript)")
        }

        /// The local namespace keeps the values of the last %map or %apply and of each named result, not
        /// those of every map of the session: once nothing of the user's holds an older map's values,
        /// they are freed. A set (frozenset) can be watched with a weak reference.
        @Test func olderUnnamedMapValuesAreFreedAndNamedOnesKept() throws {
            let run = try Pxsh.script(
                """
                import gc, weakref
                %map frozenset [[1], [2], [3]]
                first = [weakref.ref(s) for s in _]
                %map -o kept frozenset [[4]]
                named = [weakref.ref(s) for s in kept]
                %apply abs -1
                %map abs [5]
                del kept; gc.collect()
                print("unnamed alive", sum(r() is not None for r in first))
                print("named alive", sum(r() is not None for r in named))
                %result kept -o again
                print("again", again)
                %result 1
                %result 1 -o lost
                """,
                engines: 2
            )
            expectStatus(run, .exited(1))
            #expect(run.lines.contains("unnamed alive 0"), "\(run.transcript)")
            #expect(run.lines.contains("named alive 1"), "\(run.transcript)")
            #expect(run.lines.contains("again [frozenset({4})]"), "\(run.transcript)")
            // An older result shows its values as they came, but cannot store them any more.
            #expect(
                run.lines.contains("Out[2]: [frozenset({1}), frozenset({2}), frozenset({3})]"),
                "\(run.transcript)"
            )
            #expect(run.output.contains("the values of #1 are no longer kept"), "\(run.transcript)")
        }

        @Test func aMapShowsWhatItsTasksPrintedPerEngine() throws {
            let run = try Pxsh.script(
                """
                def f(x):
                    print("item", x)
                    return x

                %map f range(4)
                %map --noblock -o later f range(10, 12)
                %result later
                %map lambda x: print("fails", x) or 1 // (x - 3) range(4)
                """,
                engines: 2
            )
            expectStatus(run, .exited(1))
            // Each engine's lines come under its label, one per line or after a `[stdout:N]` line.
            for item in [0, 1, 2, 3, 10, 11] {
                #expect(run.lines.contains { $0.hasSuffix("item \(item)") }, "\(run.transcript)")
            }
            for item in [0, 1, 2] {
                #expect(run.lines.contains { $0.hasSuffix("fails \(item)") }, "\(run.transcript)")
            }
            #expect(run.lines.contains { $0.hasPrefix("[stdout:") }, "\(run.transcript)")
            #expect(run.lines.contains("Out[2]: [0, 1, 2, 3]"), "\(run.transcript)")
            #expect(run.output.contains(":map item 3] ZeroDivisionError"), "\(run.transcript)")
        }

        // MARK: - Smaller ones

        @Test func aMapErrorNamesTheFailingItem() throws {
            let run = try Pxsh.script("%map lambda x: 1 // (x - 7) range(10)", engines: 2)
            expectStatus(run, .exited(1))
            #expect(run.output.contains(":map item 7] ZeroDivisionError"), "\(run.transcript)")
        }

        @Test func mapTakesSeveralSequencesAsMapDoes() throws {
            let run = try Pxsh.script(
                """
                %map lambda a, b: a + b [1, 2, 3] [10, 20, 30, 40]
                xs = [2, 3]
                ys = [5, 2]
                %map pow xs ys
                """,
                engines: 2
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("Out[1]: [11, 22, 33]"), "\(run.transcript)")
            #expect(run.lines.contains("Out[4]: [32, 9]"), "\(run.transcript)")
        }

        @Test func targetsAcceptTheFormTheLabelsUse() throws {
            let run = try Pxsh.script("%px -t 0-1 print('hi', rank)\n%px --targets=1-2,0 print('all')", engines: 3)
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("[stdout:0] hi 0"), "\(run.transcript)")
            #expect(run.lines.contains("[stdout:1] hi 1"), "\(run.transcript)")
            #expect(!run.lines.contains { $0.hasPrefix("[stdout:2] hi") }, "\(run.transcript)")
            #expect(run.lines.contains("[stdout:0-2] all"), "\(run.transcript)")
        }

        @Test(arguments: [
            ["-n", "-1"], ["run", "/dev/null", "-n", "-1"], ["cluster", "start", "--name", "x", "-n", "-1"],
        ])
        func aNegativeEngineCountSaysWhatIsWrong(arguments: [String]) throws {
            let run = try Pxsh.run(arguments)
            expectStatus(run, .exited(2))
            #expect(run.stderr.contains("-n -1: the number of engines must be 0 or more"), "\(run.transcript)")
            #expect(!run.stderr.contains("Missing value"), "\(run.transcript)")
        }

        @Test func countsOfOneAreSingular() throws {
            let run = try Pxsh.script("%map --noblock abs [1]\n%wait\n%timeline", engines: 1)
            expectStatus(run, .exited(0))
            #expect(run.output.contains("%map on 1 task,"), "\(run.transcript)")
            #expect(run.output.contains("1 task on 1 engine:"), "\(run.transcript)")
            #expect(!run.output.contains("1 tasks") && !run.output.contains("1 engines"), "\(run.transcript)")
        }

        @Test func pushOfAnEmptyExpressionIsAUsageError() throws {
            let run = try Pxsh.script("x = 3\n%push x=\n%px print('x' in dir())", engines: 1)
            expectStatus(run, .exited(1))
            #expect(run.output.contains("%push: x= needs an expression"), "\(run.transcript)")
            #expect(run.output.contains("usage: %push"), "\(run.transcript)")
            #expect(run.lines.contains("[stdout:0] False"), "nothing was pushed: \(run.transcript)")
        }

        @Test(arguments: ["%%", "%%%px", "%%foo"])
        func anUnknownCellMagicIsAUsageErrorThatSwallowsNothing(magic: String) throws {
            let run = try Pxsh.script("\(magic)\nprint('next line runs')\nprint('and the one after')", engines: 1)
            expectStatus(run, .exited(1))
            #expect(run.output.contains("unknown magic \(magic)"), "\(run.transcript)")
            #expect(run.lines.contains("next line runs"), "\(run.transcript)")
            #expect(run.lines.contains("and the one after"), "\(run.transcript)")
        }

        /// `sys.exit(n)` and `exit(n)` in local code end the script as they end `python`: the lines
        /// after them do not run, and n is the exit status.
        @Test(arguments: [
            ("import sys; sys.exit(0)", 0), ("exit(3)", 3), ("exit()", 0), ("raise SystemExit('bad thing')", 1),
        ])
        func systemExitEndsTheSessionWithItsStatus(code: String, status: Int32) throws {
            let run = try Pxsh.run(["-n", "1", "-c", code + "\nprint('after')"])
            expectStatus(run, .exited(status))
            #expect(!run.lines.contains("after"), "\(run.transcript)")
            #expect(!run.output.contains("Traceback"), "\(run.transcript)")
            if status == 1 { #expect(run.lines.contains("bad thing"), "\(run.transcript)") }
            expectNoLeftovers(run)
        }

        /// A file that runs itself, or a "file" without end, is an error, not a crash or a memory hog.
        @Test func runRefusesEndlessNestingAndEndlessFiles() throws {
            let directory = try TemporaryDirectory()
            let file = directory.path + "/self.px"
            let fd = open(file, O_WRONLY | O_CREAT, 0o600)
            _ = "%run \(file)\n".withCString { write(fd, $0, strlen($0)) }
            close(fd)
            let nested = try Pxsh.run(["-n", "1", "-c", "%run \(file)"])
            expectStatus(nested, .exited(1))
            #expect(nested.output.contains("more than 32 deep (does one run itself?)"), "\(nested.transcript)")
            let endless = try Pxsh.run(["-n", "1", "-c", "%run /dev/zero\nprint('after')"])
            expectStatus(endless, .exited(1))
            #expect(endless.output.contains("/dev/zero is larger than 64 MiB"), "\(endless.transcript)")
            #expect(endless.lines.contains("after"), "\(endless.transcript)")
        }

        @Test func aTrailingSemicolonHidesTheValueOfAMagic() throws {
            let run = try Pxsh.script(
                """
                %map abs [-1, -2];
                print("map", _)
                %apply abs -5;
                print("apply", _)
                %px x = rank
                %pull x;
                print("pulled")
                """,
                engines: 2
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("map [1, 2]"), "\(run.transcript)")
            #expect(run.lines.contains("apply 5"), "\(run.transcript)")
            #expect(!run.output.contains("Out["), "\(run.transcript)")
            #expect(!run.output.contains("[0:"), "\(run.transcript)")
            #expect(run.lines.contains("pulled"), "\(run.transcript)")
        }

        @Test func theDeathOfTheHomeEngineSaysThatLocalVariablesAreLost() throws {
            let run = try Pxsh.script("x = 1\nimport os; os._exit(3)\nprint('x' in dir())", engines: 1)
            expectStatus(run, .exited(1))
            #expect(run.output.contains("the local namespace died"), "\(run.transcript)")
            #expect(run.output.contains("the local variables are lost"), "\(run.transcript)")
            #expect(run.lines.contains("False"), "\(run.transcript)")
        }

        /// The note that a named cluster's local namespace is shared is for a person at a terminal (see
        /// ReplTerminalTests): a script that attaches (`-c`, stdin) is not told on every call.
        @Test func attachingToANamedClusterSharesItsLocalNamespaceAndTellsNoScript() throws {
            let cluster = try NamedCluster.start(engines: 1, prefix: "shared")
            defer { cluster.stop() }
            let first = try cluster.script("shared_value = 42")
            expectStatus(first, .exited(0))
            #expect(first.stderr.isEmpty, "\(first.transcript)")
            let second = try cluster.script("print(shared_value)")
            expectStatus(second, .exited(0))
            #expect(second.lines.contains("42"), "what the note says is what happens: \(second.transcript)")
        }

        // MARK: - rank and size

        /// An address this host does not have fails the start with the controller's reason on one line, every
        /// time (a private controller removes its log as it exits); a named cluster's start leaves no directory.
        @Test func anAddressThisHostDoesNotHaveSaysSo() throws {
            for _ in 0..<4 {
                let run = try Pxsh.run(["--ip", "192.0.2.1", "-c", "pass"])  // TEST-NET-1: no host has it
                expectStatus(run, .exited(2))
                #expect(run.stderr.hasPrefix("pxsh: the cluster did not start: "), "\(run.transcript)")
                #expect(run.stderr.hasSuffix(": Cannot assign requested address\n"), "\(run.transcript)")
                #expect(run.stderr.split(separator: "\n").count == 1, "\(run.transcript)")
                expectNoLeftovers(run)
            }
            let name = "noaddress-\(getpid())"
            let run = try Pxsh.run(["cluster", "start", "--name", name, "-n", "1", "--ip", "192.0.2.1"])
            expectStatus(run, .exited(2))
            #expect(run.stderr.hasSuffix(": Cannot assign requested address\n"), "\(run.transcript)")
            #expect(run.stderr.split(separator: "\n").count == 1, "\(run.transcript)")
            expectNoLeftovers(run)
            let directory = try ClusterLayout.named(name, create: false).directory
            #expect(access(directory, F_OK) != 0, "left behind: \(directory)")
            TemporaryDirectory.removeTree(directory)
        }

        /// A client attaches while another client's `%add` is still starting engines: only the cluster's first
        /// engines hold new clients back (so that they see them all); and when a client removes the engines
        /// being added, the add ends. The added engines are held at their start by a sitecustomize (spawned
        /// engines, PXSH_NO_ZYGOTE) while a file exists.
        @Test func aClientAttachesWhileAnotherClientsAddIsStartingEngines() throws {
            let site = try TemporaryDirectory(prefix: "pxsh-it-hold-site")
            let hold = site.path + "/hold"
            try site.write(
                """
                import os, time
                hold = os.environ.get("PXSH_TEST_HOLD", "")
                def _started_by_a_controller():
                    with open("/proc/%d/cmdline" % os.getppid(), "rb") as f:
                        return b"\\0controller\\0" in f.read()
                if hold and os.path.exists(hold) and _started_by_a_controller():
                    with open(hold + ".seen", "a") as f:
                        f.write("%d\\n" % os.getpid())
                    while os.path.exists(hold):
                        time.sleep(0.02)

                """,
                to: "sitecustomize.py"
            )
            let variables = ["PXSH_NO_ZYGOTE": "1", "PYTHONPATH": site.path, "PXSH_TEST_HOLD": hold]
            let name = "it-\(getpid())-adding-\(UInt32.random(in: 0...UInt32.max))"
            let started = try Pxsh.run(
                ["cluster", "start", "--name", name, "-n", "1"],
                timeout: 120,
                setting: variables
            )
            defer {
                unlink(hold)
                _ = try? Pxsh.run(["cluster", "stop", "--name", name], timeout: 60)
                for entry in Pxsh.leftoverProcesses(token: started.token, pxshPID: nil) { kill(entry.pid, SIGKILL) }
                if let layout = try? ClusterLayout.named(name, create: false) {
                    TemporaryDirectory.removeTree(layout.directory)
                }
            }
            expectStatus(started, .exited(0))
            try site.write("", to: "hold")
            let (adding, _) = try Pxsh.start(["--cluster", name, "-c", "%add 2"], setting: variables)
            let held = eventually(timeout: 60) {
                (site.contents(of: "hold.seen") ?? "").split(separator: "\n").count == 2
            }
            try #require(held, "the added engines did not start: \(adding.transcript)")

            let other = try Pxsh.run(["--cluster", name, "-c", "print('attached')"], timeout: 30, setting: variables)
            expectStatus(other, .exited(0))
            #expect(other.lines.contains("attached"), "\(other.transcript)")

            // The engines being added are removed by another client: the add waits for them no more.
            let remover = try Pxsh.run(["--cluster", name, "-c", "%remove 1,2"], timeout: 30, setting: variables)
            expectStatus(remover, .exited(0))
            #expect(adding.waitForExit(timeout: 60) == .exited(0), "\(adding.transcript)")
            #expect(adding.stdout.contains("added no engine"), "\(adding.transcript)")
            unlink(hold)
        }

        /// Options that would be ignored are refused: a named cluster has its engines and python already, and
        /// a private cluster takes engines over TCP only at an `--ip` given. A usage error shows pxsh's usage
        /// (not `pxsh repl <options>`), and a session file that cannot be read says so in one line.
        @Test func optionsThatWouldBeIgnoredAreRefused() throws {
            for arguments in [
                ["--cluster", "g", "-n", "4"], ["--cluster", "g", "--python", "python3"], ["--port", "5000"],
            ] {
                let run = try Pxsh.run(arguments + ["-c", "print('ran')"])
                expectStatus(run, .exited(2))
                let why =
                    arguments[0] == "--port"
                    ? "Error: --port goes with --ip ADDR" : "is for a cluster this command starts"
                #expect(run.stderr.contains(why), "\(run.transcript)")
                #expect(!run.stdout.contains("ran"), "\(run.transcript)")
            }
            let unknown = try Pxsh.run(["--no-such-option"])
            expectStatus(unknown, .exited(2))
            #expect(unknown.stderr.contains("Usage: pxsh [-n N]"), "\(unknown.transcript)")
            #expect(!unknown.stderr.contains("pxsh repl <options>"), "\(unknown.transcript)")
            let missing = try Pxsh.run(["run", "no-such-file.px"])
            expectStatus(missing, .exited(2))
            #expect(missing.stderr.hasPrefix("pxsh: cannot read no-such-file.px: "), "\(missing.transcript)")
            #expect(missing.stderr.split(separator: "\n").count == 1, "\(missing.transcript)")
        }

        /// The client that removes engines says so once; "removed by another client" is for the others.
        @Test func removingEnginesIsNotReportedAsAnotherClientsDoing() throws {
            let run = try Pxsh.script("%remove all\n%add 1\n%remove 2\n", engines: 2)
            #expect(run.lines.contains("removed engines 0,1"), "\(run.transcript)")
            #expect(!run.transcript.contains("another client"), "\(run.transcript)")
        }

        /// An engine id is never given twice in a cluster, as in ipyparallel: `%add` after `%remove all`
        /// (and after removing the highest id) gives new ids, so that a result that names an engine
        /// means one engine. Each `%add` comes once the removed engines are gone, so that no id is
        /// still taken.
        @Test func addAfterRemoveGivesNewEngineIDs() throws {
            let (pxsh, token) = try Pxsh.start(["-n", "2"])
            defer {
                pxsh.closeInput()
                #expect(pxsh.waitForExit(timeout: 60) == .exited(0), "\(pxsh.transcript)")
                let left = Pxsh.leftoverProcesses(token: token, pxshPID: pxsh.pid)
                #expect(left.isEmpty, "left behind: \(left)")
            }
            func pids(ofEngines ids: [Int]) -> [pid_t] {
                ProcessTable.processes(withToken: "PXSH_IT_TOKEN=\(token)").filter { entry in
                    ids.contains { entry.commandLine.contains(" --id=\($0) ") }
                }.map(\.pid)
            }
            func remove(_ spec: String, engines ids: [Int]) throws {
                let removed = pids(ofEngines: ids)
                #expect(removed.count == ids.count)
                pxsh.write("%remove \(spec)\n")
                try #require(eventually(timeout: 60) { removed.allSatisfy { ProcessTable.entry($0) == nil } })
            }
            pxsh.write("print('started')\n")
            try pxsh.waitForOutput(timeout: 120) { $0.contains("started\n") }
            try remove("all", engines: [0, 1])
            pxsh.write("%add 1\n%px print('A', rank)\n")
            try pxsh.waitForOutput(timeout: 120) { $0.contains(" A 0\n") }
            try remove("2", engines: [2])
            pxsh.write("%add 1\n%px print('B', rank)\n")
            let output = try pxsh.waitForOutput(timeout: 120) { $0.contains(" B 0\n") }
            #expect(output.contains("added engine 2\n[stdout:2] A 0\n"), "\(pxsh.transcript)")
            #expect(output.contains("added engine 3\n[stdout:3] B 0\n"), "\(pxsh.transcript)")
        }

        /// `range(rank, N, size)` splits work exactly once over the engines, whatever came or went.
        @Test func rankAndSizeStayConsistentAfterAddRemoveAndRestart() throws {
            let run = try Pxsh.script(
                """
                %px print("A", rank, size)
                %add 2
                %px print("B", rank, size)
                %remove 1
                %px print("C", rank, size)
                %restart
                %px print("D", rank, size)
                %engines
                """,
                engines: 4
            )
            expectStatus(run, .exited(0))
            func seen(_ tag: String) -> [(engine: String, rank: Int, size: Int)] {
                run.lines.compactMap { line in
                    let fields = line.split(separator: " ")
                    guard fields.count == 4, fields[1] == tag, let rank = Int(fields[2]), let size = Int(fields[3])
                    else { return nil }
                    return (String(fields[0]), rank, size)
                }
            }
            for (tag, count) in [("A", 4), ("B", 6), ("C", 5), ("D", 5)] {
                let engines = seen(tag)
                #expect(engines.count == count, "\(tag): \(run.transcript)")
                #expect(engines.allSatisfy { $0.size == count }, "\(tag): every size is \(count): \(run.transcript)")
                #expect(engines.map(\.rank).sorted() == Array(0..<count), "\(tag): ranks: \(run.transcript)")
            }
            // Engine 5 took the rank that engine 1 left; the others kept theirs, and a line says so.
            #expect(seen("C").contains { $0.engine == "[stdout:5]" && $0.rank == 1 }, "\(run.transcript)")
            #expect(seen("C").contains { $0.engine == "[stdout:4]" && $0.rank == 4 }, "\(run.transcript)")
            #expect(
                run.lines.filter { $0.hasPrefix("ranks changed:") } == [
                    "ranks changed: engine 5 is now rank 1 (was 5)"
                ],
                "\(run.transcript)"
            )
            // %engines maps ids to ranks: "5  1  PID idle ...".
            #expect(
                run.lines.contains { $0.split(separator: " ").prefix(2) == ["5", "1"] },
                "\(run.transcript)"
            )
            expectNoLeftovers(run)
        }

        // MARK: - %restart --replay

        @Test func restartReplaysSetupOnlyAndSaysWhat() throws {
            let directory = try TemporaryDirectory()
            let log = directory.path + "/appended.txt"
            let run = try Pxsh.script(
                """
                %px import time; time.sleep(0.1)
                %px def twice(x): return 2 * x
                %px square = lambda x: x * x
                %px with open(\(pythonString(log)), "a") as fh: fh.write("x")
                %px data = [rank] * 3
                %px --setup base = 100
                offset = 5
                %push offset
                %restart --list
                %restart --replay
                %px print("after", twice(3), square(3), base, offset, "time" in dir(), "data" in dir())
                %px -t 0 twice(None)
                """,
                engines: 2
            )
            expectStatus(run, .exited(1))
            // A replayed definition's traceback names the cell where it was typed.
            #expect(run.output.contains("File \"<In [2]>\", line 1, in twice"), "\(run.transcript)")
            // Each engine appended once: the write was not replayed.
            #expect(directory.contents(of: "appended.txt") == "xx", "\(run.transcript)")
            #expect(run.lines.contains("[stdout:0,1] after 6 9 100 5 True False"), "\(run.transcript)")
            // What is replayed is listed, by --list and by the replay itself; data and side effects are not.
            let listing = [
                "  %px import time", "  %px def twice(x): return 2 * x", "  %px square = lambda x: x * x",
                "  %px base = 100", "  %push offset",
            ]
            #expect(run.lines.contains("%restart --replay would replay 5 setup commands:"), "\(run.transcript)")
            #expect(run.lines.contains("replaying 5 setup commands:"), "\(run.transcript)")
            for line in listing {
                #expect(run.lines.filter { $0 == line }.count == 2, "\(line): \(run.transcript)")
            }
            #expect(!run.output.contains("%px time.sleep"), "\(run.transcript)")
            #expect(!run.output.contains("fh.write"), "\(run.transcript)")
            expectNoLeftovers(run)
        }

        // MARK: - --help

        /// `pxsh --version` prints the version written once, as `__version__` of the Python package (which
        /// the package's metadata reads too), and `--help` says so.
        @Test func versionIsThePythonPackagesAndHelpNamesIt() throws {
            let run = try Pxsh.run(["--version"], timeout: 30)
            expectStatus(run, .exited(0))
            // Tests/IntegrationTests/MagicsTests.swift -> the package root.
            let root = #filePath.split(separator: "/", omittingEmptySubsequences: false).dropLast(3)
                .joined(separator: "/")
            let source = String(decoding: try FileDescriptor.readAll(root + "/python/pxsh/__init__.py"), as: UTF8.self)
            let version = try #require(source.firstMatch(of: /\n__version__ = "([0-9a-z.]+)"\n/)?.output.1)
            #expect(run.stdout == "pxsh \(version)\n", "\(run.transcript)")
            let pyproject = String(decoding: try FileDescriptor.readAll(root + "/python/pyproject.toml"), as: UTF8.self)
            #expect(pyproject.contains("version = { attr = \"pxsh.__version__\" }"), "\(pyproject)")
            let help = try Pxsh.run(["--help"], timeout: 30)
            #expect(help.stdout.contains("pxsh --version"), "\(help.transcript)")
        }

        /// Every command's discussion is paragraphs that argument-parser wraps: at any width, each
        /// line of a paragraph but the last is full (its next word would not have fitted: argument-parser
        /// fills lines up to one column short of the width).
        @Test(arguments: [
            [], ["repl"], ["run"], ["cluster"], ["cluster", "start"], ["cluster", "stop"], ["cluster", "list"],
            ["cluster", "status"], ["bench"], ["magics"],
        ])
        func helpDiscussionsAreWrappedParagraphs(command: [String]) throws {
            for width in [60, 100] {
                let child = try ChildProcess(
                    executable: Pxsh.executable,
                    arguments: command + ["--help"],
                    environment: Pxsh.environment(token: "help").merging(["COLUMNS": String(width)]) { $1 },
                    input: ""
                )
                #expect(child.waitForExit(timeout: 30) == .exited(0), "\(child.transcript)")
                let lines = child.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                guard let usage = lines.firstIndex(where: { $0.hasPrefix("USAGE:") }) else {
                    Issue.record("no USAGE in \(child.stdout)")
                    continue
                }
                // The overview and discussion come before USAGE; indented lines are examples.
                let prose = Array(lines[..<usage])
                for index in prose.indices.dropLast() {
                    let line = prose[index]
                    let next = prose[index + 1]
                    guard !line.isEmpty, !next.isEmpty, !next.hasPrefix(" "), !line.hasPrefix(" ") else { continue }
                    let nextWord = next.prefix { $0 != " " }
                    #expect(
                        line.count + 1 + nextWord.count >= width,
                        "pxsh \(command.joined(separator: " ")) --help breaks a paragraph at \"\(line)\" (COLUMNS=\(width))"
                    )
                }
            }
        }
    }
}
