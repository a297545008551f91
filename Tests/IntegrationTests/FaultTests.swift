import PxPlatform
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension EndToEnd {
    /// Engines, controllers and pxsh itself dying, on private clusters: what the user sees, and that
    /// no process outlives its session.
    @Suite struct Faults {
        /// The pid printed in a line like "[stdout:1] PID 1 12345", once it is a pxsh engine process.
        static func enginePID(rank: Int, in output: String) -> pid_t? {
            for line in output.split(separator: "\n") where line.hasPrefix("[stdout:\(rank)] PID \(rank) ") {
                if let pid = line.split(separator: " ").last.flatMap({ pid_t($0) }) { return pid }
            }
            return nil
        }

        /// Kills `pid` with SIGKILL, after checking that it is an engine of the run with `token`.
        static func killEngine(_ pid: pid_t, token: String) throws {
            let entry = try #require(ProcessTable.entry(pid), "engine \(pid) is not running")
            try #require(
                entry.commandLine.contains(" engine ")
                    && ProcessTable.environment(of: pid).contains("PXSH_IT_TOKEN=\(token)"),
                "refusing to kill \(entry), which is not an engine of this test's pxsh"
            )
            kill(pid, SIGKILL)
        }

        @Test func anEngineKilledDuringACommandFailsItWithAnEngineErrorAndTheSessionGoesOn() throws {
            let (pxsh, token) = try Pxsh.start([
                "-n", "4", "-c",
                """
                %px --stream import os, time; print("PID", rank, os.getpid(), flush=True); time.sleep(300 if rank == 1 else 0)
                %px print("after", rank)
                """,
            ])
            try pxsh.waitForOutput(timeout: 60) { Self.enginePID(rank: 1, in: $0) != nil }
            let victim = try #require(Self.enginePID(rank: 1, in: pxsh.stdout))
            try Self.killEngine(victim, token: token)

            let status = pxsh.waitForExit(timeout: 60)
            #expect(status == .exited(1), "\(pxsh.transcript)")
            let error = pxsh.stdout.split(separator: "\n").first { $0.contains("EngineError") }.map(String.init) ?? ""
            #expect(error.hasPrefix("[1:execute] EngineError"), "the error names engine 1:\n\(pxsh.transcript)")
            #expect(error.contains("engine 1"), "\(pxsh.transcript)")
            #expect(
                error.contains("signal 9") || error.contains("SIGKILL"),
                "the error names the signal:\n\(pxsh.transcript)"
            )
            // Only the engine that died failed; the next command ran.
            #expect(
                !pxsh.stdout.contains("[0:execute]") && !pxsh.stdout.contains("[0-3:execute]"),
                "\(pxsh.transcript)"
            )
            #expect(pxsh.stdout.contains("after 0"), "\(pxsh.transcript)")
            let left = Pxsh.leftoverProcesses(token: token, pxshPID: pxsh.pid)
            #expect(left.isEmpty, "left behind: \(left)")
        }

        /// Issue 2: death by SIGKILL (above), a segfault, or `os._exit` fails the command with an EngineError
        /// naming the engine and its signal or exit status, and only that engine's part of it.
        @Test(arguments: [
            (code: "import os; os._exit(3)", cause: "exit status 3"),
            (code: "import ctypes; ctypes.string_at(0)", cause: "signal 11"),
        ])
        func anEngineThatDiesOfItsCodeFailsTheCommandWithAnEngineError(code: String, cause: String) throws {
            let run = try Pxsh.script(
                """
                %px -t 1 \(code)
                %px -t 0 print("engine 0 unharmed")
                """,
                engines: 2
            )
            let error = run.lines.first { $0.contains("EngineError") } ?? ""
            #expect(error.hasPrefix("[1:execute] EngineError"), "\(run.transcript)")
            #expect(error.contains("engine 1") && error.contains(cause), "\(run.transcript)")
            #expect(run.lines.contains("[stdout:0] engine 0 unharmed"), "\(run.transcript)")
            expectNoLeftovers(run)
        }

        /// The engine that died is being restarted with its rank; a command addressed to it meanwhile should
        /// run once it is back, not be refused as if there were no such engine.
        @Test func aCommandForAnEngineThatIsRestartingRunsWhenItIsBack() throws {
            let run = try Pxsh.script(
                """
                %px -t 1 import os; os._exit(3)
                %px -t 1 print("back", rank)
                """,
                engines: 2
            )
            #expect(run.lines.contains("[stdout:1] back 1"), "\(run.transcript)")
            #expect(!run.output.contains("no engine 1"), "\(run.transcript)")
            expectNoLeftovers(run)
        }

        /// What the code printed before its engine died is what the user needs to see why; it must not be lost.
        /// Three engines die at once, so that a lucky race cannot pass the test.
        @Test func outputPrintedJustBeforeAnEngineDiesIsShown() throws {
            let run = try Pxsh.script(
                """
                %px import os, sys; print("last words", rank, flush=True); sys.stderr.write("last error\\n"); sys.stderr.flush(); os._exit(3)
                """,
                engines: 3
            )
            expectStatus(run, .exited(1))
            for rank in 0..<3 {
                #expect(
                    run.output.contains("last words \(rank)"),
                    "stdout of engine \(rank) was lost:\n\(run.transcript)"
                )
            }
            #expect(
                run.lines.contains { $0.hasPrefix("[stderr:") && $0.contains("last error") },
                "stderr was lost:\n\(run.transcript)"
            )
            expectNoLeftovers(run)
        }

        /// A segfault in an engine is the user's code crashing Python; the Swift runtime's crash report
        /// (threads, registers, images of the pxsh binary) means nothing to them and must not be shown.
        ///
        /// While output written just before a death is mostly lost (see above), the report mostly does not
        /// show either; three engines crash at once to give it more chances.
        @Test func aSegfaultingEngineShowsNoSwiftCrashReport() throws {
            let run = try Pxsh.script("%px import ctypes; ctypes.string_at(0)", engines: 3)
            try #require(run.output.contains("EngineError"), "\(run.transcript)")
            for noise in ["Program crashed", "Backtracing", "Registers:", "Thread 0"] {
                #expect(!run.output.contains(noise), "\(noise) shown to the user:\n\(run.transcript)")
            }
            expectNoLeftovers(run)
        }

        @Test func killingPxshWithSIGKILLTakesItsControllerAndEnginesDown() throws {
            let (pxsh, token) = try Pxsh.start(["-n", "2"])
            pxsh.write("%px print('ready', rank)\n")
            try pxsh.waitForOutput(timeout: 60) { $0.contains("[stdout:1] ready 1") }
            let cluster = ProcessTable.processes(
                withToken: "PXSH_IT_TOKEN=\(token)",
                orCommandLineContaining: "/private-\(pxsh.pid)-"
            )
            .filter { $0.pid != pxsh.pid && $0.isAlive }
            // The controller, the zygote, the home engine and two engines (forked by the zygote): proof
            // that the search below sees them.
            #expect(cluster.filter { $0.commandLine.contains(" controller ") }.count == 1, "\(cluster)")
            #expect(cluster.filter { $0.commandLine.contains(" engine --zygote ") }.count == 1, "\(cluster)")
            #expect(cluster.filter { $0.commandLine.contains(" engine --id=") }.count == 3, "\(cluster)")

            pxsh.signal(SIGKILL)
            #expect(pxsh.waitForExit(timeout: 30) == .signaled(SIGKILL))
            var alive: [ProcessTable.Entry] = []
            eventually(timeout: 10) {
                alive = cluster.compactMap { ProcessTable.entry($0.pid) }.filter(\.isAlive)
                return alive.isEmpty
            }
            #expect(alive.isEmpty, "still running 10 s after pxsh was killed: \(alive)")
            let left = Pxsh.leftoverProcesses(token: token, pxshPID: pxsh.pid, timeout: 1)
            #expect(left.isEmpty, "left behind: \(left)")
            for entry in alive + left { kill(entry.pid, SIGKILL) }
        }

        @Test func pxshExitingWhileEnginesAreBusyStillEndsThem() throws {
            let run = try Pxsh.script(
                """
                %px --noblock import time; time.sleep(600)
                print("leaving")
                """,
                engines: 2
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("leaving"), "\(run.transcript)")
            expectNoLeftovers(run)
        }

        @Test func whenTheControllerDiesTheClientSaysSoAndDoesNotHang() throws {
            let (pxsh, token) = try Pxsh.start(["-n", "2"])
            defer {
                for entry in Pxsh.leftoverProcesses(token: token, pxshPID: pxsh.pid, timeout: 0) {
                    kill(entry.pid, SIGKILL)
                }
            }
            pxsh.write("%px print('ready', rank)\n")
            try pxsh.waitForOutput(timeout: 60) { $0.contains("[stdout:1] ready 1") }
            let controller = try #require(
                ProcessTable.processes(
                    withToken: "PXSH_IT_TOKEN=\(token)",
                    orCommandLineContaining: "/private-\(pxsh.pid)-"
                )
                .first { $0.commandLine.contains(" controller ") && $0.isAlive }
            )
            kill(controller.pid, SIGKILL)
            // A controller killed outright cannot remove its private directory; the test does.
            let words = controller.commandLine.split(separator: " ")
            let directory = words.firstIndex(of: "--directory").flatMap {
                $0 + 1 < words.count ? String(words[$0 + 1]) : nil
            }
            defer { if let directory, directory.contains("/private-") { TemporaryDirectory.removeTree(directory) } }

            pxsh.write("%px print('after', rank)\n")
            pxsh.write("print('local', 1 + 1)\n")
            pxsh.closeInput()
            let status = pxsh.waitForExit(timeout: 60)
            #expect(status == .exited(1), "\(pxsh.transcript)")
            let said = pxsh.output.split(separator: "\n").dropFirst(2).joined(separator: "\n")
            #expect(
                said.contains("controller") || said.contains("cluster"),
                "the client says the cluster went away:\n\(pxsh.transcript)"
            )
            let left = Pxsh.leftoverProcesses(token: token, pxshPID: pxsh.pid)
            #expect(left.isEmpty, "engines outlived their controller: \(left)")
        }

        /// Issue 4: an engine killed during `%map slow range(40)`; the map completes correctly with a
        /// retry notice, and the engine comes back with the same rank.
        ///
        /// The first engine to run `slow` claims a file, writes its pid there and sleeps for minutes, so
        /// the map can only finish if that engine's tasks are retried elsewhere. The test kills it as soon
        /// as the file appears: no timing is guessed.
        @Test func anEngineKilledDuringAMapIsRetriedElsewhereAndComesBackWithItsRank() throws {
            let directory = try TemporaryDirectory()
            let (pxsh, token) = try Pxsh.start([
                "-n", "4", "-c",
                """
                %px --stream import os; print("PID", rank, os.getpid(), flush=True)
                import os, time
                claim_dir = \(pythonString(directory.path))
                def slow(x):
                    mine = claim_dir + "/claim-%d" % os.getpid()
                    with open(mine, "w") as f:
                        f.write(str(os.getpid()))
                    try:
                        os.link(mine, claim_dir + "/victim")
                    except FileExistsError:
                        time.sleep(0.1)
                        return x * x
                    time.sleep(600)

                %map slow range(40)
                assert _ == [x * x for x in range(40)], _
                print("MAP-CHECKED")
                %px print("RANK", rank, __import__("os").getpid())
                %engines
                """,
            ])
            try pxsh.waitForOutput(timeout: 60) { _ in
                directory.contents(of: "victim").map { pid_t($0) != nil } ?? false
            }
            let victim = try #require(directory.contents(of: "victim").flatMap { pid_t($0) })
            let ranks = (0..<4).map { Self.enginePID(rank: $0, in: pxsh.stdout) }
            let rank = try #require(
                ranks.firstIndex(of: victim),
                "the victim \(victim) is not an engine: \(pxsh.stdout)"
            )
            try Self.killEngine(victim, token: token)

            let status = pxsh.waitForExit(timeout: 90)
            #expect(status == .exited(0), "\(pxsh.transcript)")
            let lines = pxsh.stdout.split(separator: "\n").map(String.init)
            #expect(lines.contains("MAP-CHECKED"), "\(pxsh.transcript)")
            #expect(
                lines.contains { $0.contains("engine \(rank) (rank \(rank)) died") && $0.contains("signal 9") },
                "\(pxsh.transcript)"
            )
            #expect(lines.contains { $0.contains("retr") }, "a retry notice:\n\(pxsh.transcript)")
            // Back with the same rank, as a new process.
            let after = lines.first { $0.hasPrefix("[stdout:\(rank)] RANK \(rank) ") }
            let newPID = after.flatMap { $0.split(separator: " ").last }.flatMap { pid_t($0) }
            #expect(newPID != nil && newPID != victim, "rank \(rank) after the map:\n\(pxsh.transcript)")
            for other in 0..<4 where other != rank {
                #expect(lines.contains("[stdout:\(other)] RANK \(other) \(ranks[other] ?? -1)"), "\(pxsh.transcript)")
            }
            let table: [[Substring]] = lines.map { $0.split(separator: " ") }
            let row = table.first { fields in fields.count >= 4 && fields[0] == "\(rank)" && fields[1] == "\(rank)" }
            let rowShowsTheNewEngine =
                row.map { fields in fields[2] == "\(newPID ?? -1)" && fields[3] != "dead" } ?? false
            #expect(rowShowsTheNewEngine, "%engines:\n\(pxsh.transcript)")
            let left = Pxsh.leftoverProcesses(token: token, pxshPID: pxsh.pid)
            #expect(left.isEmpty, "left behind: \(left)")
        }

        /// A map item that kills every engine it runs on: its task is retried once, said once, and the error
        /// names the item as other map errors do (`[1:map item 3]`), or a chunk's items when it has several.
        /// The item is the last one, so that no other task waits behind it on its engine (such a task dies
        /// with the engine, and may use up its retries on the killer's engine too).
        @Test func aMapItemThatKillsItsEngineIsNamedAndItsRetryToldOnce() throws {
            let killer = "lambda x: (__import__('os').kill(__import__('os').getpid(), 9) if x == 3 else x)"
            let run = try Pxsh.script(
                "%map --chunksize 1 \(killer) range(4)\n%map --chunksize 2 \(killer) range(4)",
                engines: 2
            )
            expectStatus(run, .exited(1))
            let lines = run.output.split(separator: "\n").map(String.init)
            #expect(lines.filter { $0.hasPrefix("task 3 retried after engine ") }.count == 1, "\(run.transcript)")
            #expect(lines.filter { $0.hasPrefix("task 1 retried after engine ") }.count == 1, "\(run.transcript)")
            let died = lines.filter {
                $0.contains("EngineError: engine ") && $0.contains("died while running the task")
            }
            #expect(died.count == 2, "\(run.transcript)")
            #expect(died.first?.contains(":map item 3] ") == true, "\(run.transcript)")
            #expect(died.last?.contains(":map items 2-3] ") == true, "\(run.transcript)")
            expectNoLeftovers(run)
        }

        @Test func restartWithReplayBringsBackImportsDefinitionsAndPushes() throws {
            let run = try Pxsh.script(
                """
                %px import json, os
                payload = {"k": [1, 2, 3]}
                %push payload
                %px --setup defined_here = 7
                %px first_pid = os.getpid()
                %pull first_pid
                %restart
                %px -t 0,1 probe = ("json" in globals(), "payload" in globals(), "defined_here" in globals(), __import__("os").getpid(), rank)
                %pull probe
                assert [p[:3] for p in probe] == [(False, False, False)] * 2, ("a plain %restart replays nothing", probe)
                assert not set(first_pid) & {p[3] for p in probe}, ("the engines were not restarted", first_pid, probe)
                assert [p[4] for p in probe] == [0, 1], probe
                %restart --replay
                %px -t 0,1 probe = (json.dumps(payload), defined_here, rank)
                %pull probe
                assert probe == [('{"k": [1, 2, 3]}', 7, 0), ('{"k": [1, 2, 3]}', 7, 1)], probe
                print("CHECKED")
                """,
                engines: 2
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("CHECKED"), "\(run.transcript)")
            expectNoLeftovers(run)
        }
    }
}

/// A Python string literal for `text`.
func pythonString(_ text: String) -> String {
    "'" + text.replacingAll("\\", with: "\\\\").replacingAll("'", with: "\\'") + "'"
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
