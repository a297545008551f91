import PxPlatform
import Testing

extension EndToEnd {
    /// Load-balanced and direct work mixed on the same engines, aborting and interrupting it.
    ///
    /// Each test has a cluster of its own: a scheduler that loses track of its tasks wedges the cluster
    /// for every later map, and that must not spill into other tests.
    @Suite struct Scheduling {
        /// The engines are busy with direct work when the map arrives; the map must start once they are free.
        @Test func aMapSubmittedWhileTheEnginesRunDirectWorkCompletes() throws {
            let run = try Pxsh.script(
                """
                %px --noblock -o busy import time; time.sleep(0.5)
                %map abs [-1, -2, -3, -4, -5]
                assert _ == [1, 2, 3, 4, 5], _
                %map abs [-6, -7]
                assert _ == [6, 7], _
                print("CHECKED")
                """,
                engines: 2,
                timeout: 20
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("CHECKED"), "\(run.transcript)")
            expectNoLeftovers(run)
        }

        @Test func twoClientsOfANamedClusterWorkAtTheSameTime() throws {
            let cluster = try NamedCluster.start(engines: 2)
            defer { cluster.stop() }
            func session(_ tag: String) -> String {
                """
                %px import time; time.sleep(0.2); print("\(tag)", rank)
                %map lambda x: x * 2 range(50)
                assert _ == [x * 2 for x in range(50)], _
                %px print("\(tag)", "again", rank)
                """
            }
            let clients = try ["first", "second"].map { tag in
                try Pxsh.start(["--cluster", cluster.name, "-c", session(tag)]).process
            }
            // One deadline for both: they run at the same time.
            let deadline = Deadline(seconds: 20)
            for (client, tag) in zip(clients, ["first", "second"]) {
                let status = client.waitForExit(timeout: max(1, deadline.secondsLeft))
                #expect(status == .exited(0), "\(client.transcript)")
                let lines = client.stdout.split(separator: "\n").map(String.init)
                #expect(lines.contains("[stdout:1] \(tag) again 1"), "\(client.transcript)")
                let other = tag == "first" ? "second" : "first"
                #expect(
                    !client.stdout.contains(other),
                    "output of the other client arrived here:\n\(client.transcript)"
                )
            }
        }

        /// `%abort` right after a `--noblock` map cancels the tasks that have not started.
        ///
        /// Every task that runs leaves a file, so the count of files shows how many ran; no clock is read.
        @Test func abortRightAfterANoblockMapCancelsTheTasksNotStarted() throws {
            let marks = try TemporaryDirectory()
            let run = try Pxsh.script(
                """
                import os
                marks = \(pythonString(marks.path))
                def task(x):
                    import time
                    open(marks + "/%d" % x, "w").close()
                    time.sleep(0.2)
                    return x

                %map --noblock --chunksize 1 -o ab task range(40)
                %abort ab
                %wait ab
                ran = len(os.listdir(marks))
                print("RAN", ran)
                assert ran < 40, ran
                """,
                engines: 2,
                timeout: 60
            )
            let aborted = run.lines.first { $0.hasPrefix("aborted ") }
            #expect(
                aborted.map { !$0.hasPrefix("aborted 0 ") } == true,
                "an abort notice with tasks aborted:\n\(run.transcript)"
            )
            let ran = run.lines.first { $0.hasPrefix("RAN ") }.flatMap { Int($0.dropFirst(4)) }
            #expect(ran.map { $0 < 40 } == true, "\(run.transcript)")
            #expect(run.output.contains("TaskAborted"), "\(run.transcript)")
            expectNoLeftovers(run)
        }

        @Test func anAbortedTaskIsNotShownAsComingFromAnEngineNumberedMinus2() throws {
            let run = try Pxsh.script(
                """
                %map --noblock --chunksize 1 -o ab lambda x: __import__("time").sleep(0.2) range(20)
                %jobs
                %abort ab
                %wait ab
                """,
                engines: 1,
                timeout: 60
            )
            try #require(run.output.contains("TaskAborted"), "\(run.transcript)")
            #expect(
                !run.output.contains("[-2:"),
                "an internal engine number leaks into the error prefix:\n\(run.transcript)"
            )
            expectNoLeftovers(run)
        }

        /// Once the code runs (each engine leaves a file when it starts), `%interrupt` raises KeyboardInterrupt
        /// in it, and the engines stay the same processes.
        @Test func interruptStopsRunningCodeAndTheEnginesStay() throws {
            let flags = try TemporaryDirectory()
            let run = try Pxsh.script(
                """
                import os, time
                flags = \(pythonString(flags.path))
                %push flags
                %px import os; first = os.getpid()
                %px --noblock -o sleeper import time; open(flags + "/%d" % rank, "w").close(); time.sleep(30)
                deadline = time.monotonic() + 30
                while len(os.listdir(flags)) < 2 and time.monotonic() < deadline: time.sleep(0.01)

                %interrupt
                %wait sleeper
                %px same = os.getpid() == first
                %pull same
                assert same == [True, True], same
                print("CHECKED")
                """,
                engines: 2,
                timeout: 90
            )
            // %wait shows the KeyboardInterrupt, which fails the run.
            expectStatus(run, .exited(1))
            #expect(run.output.contains("[0,1:execute] KeyboardInterrupt"), "\(run.transcript)")
            #expect(run.lines.contains("CHECKED"), "\(run.transcript)")
            expectNoLeftovers(run)
        }

        /// `%interrupt` right after a `--noblock` submission: the controller reports the engines interrupted,
        /// so the code must not then run on as if nothing happened. (If the interrupt is lost, the 3 s of
        /// work simply finish, and the missing KeyboardInterrupt fails the test.)
        @Test func anInterruptRightAfterSubmissionIsNotLost() throws {
            let run = try Pxsh.script(
                """
                %px --noblock -o sleeper import time; time.sleep(3); print("finished", rank)
                %interrupt
                %wait sleeper
                %pxresult sleeper
                """,
                engines: 2,
                timeout: 60
            )
            #expect(
                run.lines.contains("interrupted engines 0,1") || run.lines.contains("interrupted engines 0-1"),
                "\(run.transcript)"
            )
            #expect(run.output.contains("KeyboardInterrupt"), "the interrupt was lost:\n\(run.transcript)")
            #expect(
                !run.lines.contains { $0.hasPrefix("[stdout:") && $0.contains("finished") },
                "the code ran to its end:\n\(run.transcript)"
            )
            expectNoLeftovers(run)
        }

        @Test func addedEnginesTakeWorkAndRemovedOnesExit() throws {
            let run = try Pxsh.script(
                """
                %add 2
                %px import os; pid = os.getpid(); r = rank
                %pull pid r
                assert r == [0, 1, 2, 3], r
                %remove 2,3
                %px print("left", rank)
                import time
                def gone(p):
                    try:
                        with open("/proc/%d/stat" % p) as f:
                            return f.read().rsplit(")", 1)[1].split()[0] in "ZX"
                    except FileNotFoundError:
                        return True

                deadline = time.monotonic() + 10
                while not all(gone(p) for p in pid[2:]) and time.monotonic() < deadline:
                    time.sleep(0.02)

                assert all(gone(p) for p in pid[2:]), pid
                print("CHECKED")
                """,
                engines: 2,
                timeout: 60
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("[stdout:1] left 1") && !run.output.contains("left 2"), "\(run.transcript)")
            #expect(run.lines.contains("CHECKED"), "\(run.transcript)")
            expectNoLeftovers(run)
        }
    }
}
