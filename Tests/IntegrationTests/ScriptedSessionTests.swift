import Testing

#if canImport(Glibc)
import Glibc
#endif

extension EndToEnd {
    /// `pxsh -n N -c '...'` and `pxsh < FILE` on private clusters: what a scripted session shows and its exit status.
    @Suite struct ScriptedSessions {
        @Test func fourEnginesAreFourProcessesWithRankAndSizeAndNoneIsHome() throws {
            let run = try Pxsh.script(
                """
                import os
                print("HOME", os.getpid())
                %px import os; print("ENGINE", rank, size, os.getpid())
                %engines
                """
            )
            expectStatus(run, .exited(0))
            // "[stdout:2] ENGINE 2 4 12345"
            let engines = run.lines.filter { $0.contains("] ENGINE ") }.map { line in
                (prefix: line.prefix { $0 != " " }, fields: line.split(separator: " ").suffix(3).compactMap { Int($0) })
            }
            try #require(engines.count == 4 && engines.allSatisfy { $0.fields.count == 3 }, "\(run.transcript)")
            #expect(engines.map(\.prefix) == ["[stdout:0]", "[stdout:1]", "[stdout:2]", "[stdout:3]"])
            #expect(engines.map { $0.fields[0] } == [0, 1, 2, 3], "rank")
            #expect(engines.allSatisfy { $0.fields[1] == 4 }, "size")
            let pids = engines.map { $0.fields[2] }
            #expect(Set(pids).count == 4, "distinct pids: \(pids)")
            let home = try #require(run.lines.first { $0.hasPrefix("HOME ") }.flatMap { Int($0.dropFirst(5)) })
            #expect(!pids.contains(home), "the home engine (pid \(home)) ran a %px meant for all")

            // The engine table shows the same processes, and the home engine apart from them.
            let states: Set<Substring> = ["idle", "busy", "starting", "dead"]
            var tablePIDs: [(id: Substring, pid: Int)] = []
            for line in run.lines {
                let fields: [Substring] = line.split(separator: " ")
                guard fields.count >= 4, fields[0] == "home" || Int(fields[0]) != nil, states.contains(fields[3]),
                    let pid = Int(fields[2])
                else { continue }
                tablePIDs.append((fields[0], pid))
            }
            #expect(tablePIDs.first { $0.id == "home" }?.pid == home, "\(run.stdout)")
            #expect(tablePIDs.filter { $0.id != "home" }.map(\.pid) == pids, "\(run.stdout)")
            expectNoLeftovers(run)
        }

        @Test(arguments: [
            (code: "1/0", shown: "[0-3:execute] ZeroDivisionError: division by zero", notShown: [String]()),
            (
                code: "1/(rank-2)", shown: "[2:execute] ZeroDivisionError: division by zero",
                notShown: ["[0:execute]", "[1:execute]", "[3:execute]", "[0-3:execute]"]
            ),
        ])
        func aRemoteErrorFailsTheRunAndNamesTheEnginesThatRaisedIt(
            code: String,
            shown: String,
            notShown: [String]
        ) throws {
            let run = try Pxsh.script("%px \(code)\nprint('session', 'goes on')")
            expectStatus(run, .exited(1))
            #expect(run.output.contains(shown), "\(run.transcript)")
            for other in notShown { #expect(!run.output.contains(other), "\(run.transcript)") }
            // The remote traceback shows the user's frame and none of pxsh's own.
            #expect(run.output.contains("File \"<In ["), "\(run.transcript)")
            #expect(run.output.contains(code), "\(run.transcript)")
            for runtimeName in ["pxsh_runtime", "<pxsh-runtime>", "_pxsh"] {
                #expect(!run.output.contains(runtimeName), "\(run.transcript)")
            }
            #expect(run.stdout.contains("session goes on"), "\(run.transcript)")
            expectNoLeftovers(run)
        }

        /// `--noblock` returns before the work is done: the order of what is shown proves it, never a clock.
        @Test func severalDashCRunInTheOrderGiven() throws {
            // One -c used to replace the one before: only the last ran, silently.
            let run = try Pxsh.run([
                "-n", "1", "-c", "x = 41", "-c", "x += 1\n%px print('engine', rank)", "-c", "print(x)",
            ])
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("[stdout:0] engine 0"), "\(run.transcript)")
            #expect(run.lines.last { !$0.isEmpty } == "42", "\(run.transcript)")
        }

        @Test func noblockReturnsAtOnceAndTheResultIsInspectableAfterwards() throws {
            let run = try Pxsh.script(
                """
                %px --noblock -o ar import time; time.sleep(1); print("slept", rank)
                %jobs
                %wait ar
                %pxresult ar
                %jobs
                """
            )
            expectStatus(run, .exited(0))
            let lines = run.lines
            let summary = try #require(
                lines.firstIndex { $0.contains("<AsyncResult 'ar'") && $0.contains("pending") },
                "\(run.transcript)"
            )
            let rows = lines.indices.filter { lines[$0].hasPrefix("ar ") }
            try #require(rows.count == 2, "two %jobs tables with a row for ar:\n\(run.transcript)")
            let before = lines[rows[0]].split(separator: " ")
            let after = lines[rows[1]].split(separator: " ")
            #expect(summary < rows[0])
            // Right after submission it is not done: --noblock did not wait.
            #expect(before.contains("pending") || before.contains("running"), "\(lines[rows[0]])")
            #expect(!before.contains("done"), "\(lines[rows[0]])")
            // %pxresult shows each engine's output between the two tables.
            for rank in 0..<4 {
                let shown = lines.indices.filter { lines[$0] == "[stdout:\(rank)] slept \(rank)" }
                #expect(shown.count == 1 && shown[0] > rows[0] && shown[0] < rows[1], "\(run.transcript)")
            }
            #expect(after.contains("done") && after.contains("4/4"), "\(lines[rows[1]])")
            // The elapsed column ends the row: a number and a unit, like "1.00 s" or "812 ms".
            let unit = String(after.last ?? "")
            let number = after.count >= 2 ? Double(after[after.count - 2]) : nil
            #expect(["µs", "ms", "s", "min"].contains(unit) && number != nil, "elapsed in \(lines[rows[1]])")
            expectNoLeftovers(run)
        }

        /// `%result NAME` takes a result made from Python (`px`), as `%jobs` lists it and `%wait`,
        /// `%pxresult` and `%timeline` take it: it shows the value, and `-o VAR` stores it.
        @Test func resultTakesAResultMadeFromPython() throws {
            let run = try Pxsh.script(
                """
                ar = px.load_balanced_view().apply_async(abs, -42)
                %result ar
                %result ar -o answer
                print("answer is", answer)
                """,
                engines: 1
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("ar = 42"), "\(run.transcript)")
            #expect(run.lines.contains("answer = 42"), "\(run.transcript)")
            #expect(run.lines.contains("answer is 42"), "\(run.transcript)")
            expectNoLeftovers(run)
        }

        /// Results made from Python (`px`) that were cancelled, or cut off by `px.close()`: %jobs lists
        /// every result, %wait and %pxresult say what became of them, by the name %jobs gives them;
        /// `px` connects again on its next use after `px.close()`.
        @Test func pythonResultsThatWereCancelledOrCutOffByCloseAreShownPlainly() throws {
            let run = try Pxsh.script(
                """
                import time
                lv = px.load_balanced_view()
                busy = [lv.apply_async(time.sleep, 5) for _ in range(2)]
                queued = lv.apply_async(time.sleep, 5)
                c = lv.apply_async(time.sleep, 5)
                print("cancelled", c.cancel())
                %jobs
                %wait c
                %pxresult c
                %wait queued --timeout 0.1
                r = px[:].apply_async(abs, -1)
                px.close()
                %wait r
                %pxresult r
                print("again", px[-1].apply_sync(abs, -3), px.ids)
                """,
                engines: 2
            )
            expectStatus(run, .exited(1))
            let lines = run.lines
            try #require(lines.contains("cancelled True"), "the queued call was not cancelled:\n\(run.transcript)")
            for raw in ["Traceback", "AttributeError", "concurrent.futures"] {
                #expect(!run.output.contains(raw), "\(raw) in:\n\(run.transcript)")
            }
            // %jobs lists the cancelled result and the others beside it.
            #expect(lines.contains { $0.hasPrefix("c ") && $0.contains("cancelled") }, "\(run.transcript)")
            #expect(lines.contains { $0.hasPrefix("queued ") }, "\(run.transcript)")
            #expect(lines.filter { $0.hasPrefix("px#") }.count == 2, "\(run.transcript)")
            #expect(lines.filter { $0 == "c was cancelled" }.count == 2, "%wait c and %pxresult c:\n\(run.transcript)")
            #expect(
                lines.contains("<AsyncResult 'queued': apply on 1 task, pending> is still running"),
                "\(run.transcript)"
            )
            #expect(
                lines.filter { $0.contains("ClusterError: the client was closed") }.count == 2,
                "%wait r and %pxresult r:\n\(run.transcript)"
            )
            #expect(lines.contains("again 3 [0, 1]"), "\(run.transcript)")
            expectNoLeftovers(run)
        }

        /// Standard input is read as a Python REPL reads it: a compound statement runs once complete,
        /// a `%%px` cell runs up to the next blank line.
        @Test func aScriptOnStandardInputRunsCompoundStatementsAndCells() throws {
            let run = try Pxsh.run(
                ["-n", "2"],
                input: """
                    def triple(x):
                        return 3 * x

                    for i in range(2):
                        print("local", triple(i))

                    %%px
                    total = 0
                    for k in range(rank + 2):
                        total += k
                    print("cell", rank, total)

                    print("end")

                    """
            )
            expectStatus(run, .exited(0))
            for line in ["local 0", "local 3", "[stdout:0] cell 0 1", "[stdout:1] cell 1 3", "end"] {
                #expect(run.lines.contains(line), "missing \(line):\n\(run.transcript)")
            }
            expectNoLeftovers(run)
        }

        @Test func identicalOutputIsMergedAndResultsAreNumbered() throws {
            let run = try Pxsh.script(
                """
                %px print("same everywhere")
                %px 6 * 7
                %px rank * 2
                """
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("[stdout:0-3] same everywhere"), "\(run.transcript)")
            let results = run.lines.filter { $0.hasPrefix("Out[") }
            #expect(
                results == ["Out[0-3:2]: 42", "Out[0:3]: 0", "Out[1:3]: 2", "Out[2:3]: 4", "Out[3:3]: 6"],
                "\(run.transcript)"
            )
            expectNoLeftovers(run)
        }

        /// `-o NAME` of %map, %apply and %px: Python code gets the magic's AsyncResult with `px.result("NAME")`, a
        /// concurrent.futures.Future with the magic's values, output and timings; %timeline takes a variable holding it.
        @Test func aMagicsNamedResultIsAnAsyncResultThatPythonCodeCanUse() throws {
            let run = try Pxsh.script(
                """
                import concurrent.futures, pxsh
                def sq(x): print("item", x); return x * x
                %map -o squares sq range(6)
                ar = px.result("squares")
                assert isinstance(ar, pxsh.AsyncResult) and isinstance(ar, concurrent.futures.Future), type(ar)
                assert ar.ready() and ar.successful() and ar.get() == [0, 1, 4, 9, 16, 25] == squares, ar.get()
                assert len(ar) == 6 and ar.progress == 6 and ar.elapsed > 0 and ar.wall_time > 0, (len(ar), ar.progress)
                assert "".join(ar.stdout).count("item") == 6 and set(ar.engine_id) <= set(px.ids), ar.stdout
                assert list(concurrent.futures.as_completed([ar])) == [ar] and list(ar) == squares
                assert px.result("squares") is ar and px.wait([ar]) and ar.msg_ids, ar.msg_ids
                %apply -o seven sq 7
                one = px.result("seven")
                assert one.get() == 49 == seven and one.engine_id in px.ids and one.stdout == "item 7\\n", one.stdout
                %px -o hello print("hi", rank)
                replies = px.result("hello").get()
                assert [r.stdout for r in replies] == [f"hi {i}\\n" for i in range(4)], replies
                print("all checked")
                %timeline ar
                """
            )
            expectStatus(run, .exited(0))
            #expect(run.stdout.contains("all checked"), "\(run.transcript)")
            #expect(run.stdout.contains("<AsyncResult 'squares': %map on"), "\(run.transcript)")
            expectNoLeftovers(run)
        }

        /// A failed magic result raises its remote errors in Python; a running one is not handed over yet, and says so.
        @Test func aFailedOrRunningMagicResultIsClearInPython() throws {
            let run = try Pxsh.script(
                """
                import pxsh, time
                def boom(x): return 1 / (x - 2)
                %map -o bad boom range(4)
                try: px.result("bad").get()
                except pxsh.CompositeError as error: print("raised", [e[0] for e in error.elist])
                %map --noblock -o later time.sleep [2]
                try: px.result("later")
                except pxsh.PxshError as error: print("pending:", error)
                %wait later
                print("later:", px.result("later").get())
                try: px.result("nope")
                except pxsh.PxshError as error: print("nope:", error)
                """
            )
            // The failed %map fails the run; the Python lines after it go on.
            expectStatus(run, .exited(1))
            #expect(run.stdout.contains("raised ['ZeroDivisionError']"), "\(run.transcript)")
            #expect(run.stdout.contains("pending: %map 'later' is still running"), "\(run.transcript)")
            #expect(run.stdout.contains("later: [None]"), "\(run.transcript)")
            #expect(run.stdout.contains("nope: no result named 'nope'"), "\(run.transcript)")
            expectNoLeftovers(run)
        }

        @Test func aFailingLocalAssertFailsTheRunAndAPassingOneDoesNot() throws {
            // The data tests rely on this: a local assert decides the exit status.
            let passing = try Pxsh.script("assert 1 + 1 == 2", engines: 1)
            let failing = try Pxsh.script("assert 1 + 1 == 3, 'arithmetic'", engines: 1)
            expectStatus(passing, .exited(0))
            expectStatus(failing, .exited(1))
            #expect(failing.output.contains("AssertionError"), "\(failing.transcript)")
        }

        @Test(arguments: [["--bogus"], ["-n", "many", "-c", "1"], ["-n", "-3", "-c", "1"], ["cluster", "start"]])
        func aUsageErrorExitsWithStatus2(arguments: [String]) throws {
            let run = try Pxsh.run(arguments)
            expectStatus(run, .exited(2))
            #expect(!run.stderr.isEmpty, "a usage error says what is wrong:\n\(run.transcript)")
            expectNoLeftovers(run)
        }
    }
}
