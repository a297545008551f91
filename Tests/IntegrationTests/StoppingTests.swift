import PxPlatform
import PxTransport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension EndToEnd {
    /// Stopping work and leaving (issue 13): aborting queued work, engines that end as Python ends,
    /// load-balanced work with no engine, forks inside an engine, and what killed controllers leave.
    @Suite struct Stopping {
        /// A named cluster whose controller was killed (SIGKILL: it could not remove its directory) is
        /// listed as dead, and `cluster stop` removes what it left, saying so (no command could).
        @Test func stopRemovesWhatAKilledControllerLeft() throws {
            let cluster = try NamedCluster.start(engines: 1, prefix: "dead")
            defer { cluster.stop() }
            let controller = try #require(cluster.controllerPID)
            kill(controller, SIGKILL)
            #expect(eventually(timeout: 10) { !ProcessTable.isAlive(controller) })
            let list = try Pxsh.run(["cluster", "list"])
            #expect(
                list.stdout.contains(
                    "\(cluster.name)  dead: its controller (pid \(controller)) is gone; "
                        + "`pxsh cluster stop --name \(cluster.name)` removes what it left"
                ),
                "\(list.transcript)"
            )
            let stop = try Pxsh.run(["cluster", "stop", "--name", cluster.name])
            expectStatus(stop, .exited(0))
            #expect(
                stop.stdout.contains(
                    "cluster '\(cluster.name)' stopped: its controller (pid \(controller)) was already gone (killed?), "
                        + "so its directory \(cluster.directory) was removed"
                ),
                "\(stop.transcript)"
            )
            #expect(access(cluster.directory, F_OK) != 0)
            let again = try Pxsh.run(["cluster", "stop", "--name", cluster.name])
            expectStatus(again, .exited(1))
            #expect(again.stderr.contains("no cluster named '\(cluster.name)' is running"), "\(again.transcript)")
            #expect(!(try Pxsh.run(["cluster", "list"]).stdout.contains(cluster.name)))
        }

        // MARK: - Leaving loses no data

        /// `cluster list` names a cluster whose controller does not answer instead of waiting for it.
        @Test func clusterListDoesNotWaitForAStoppedController() throws {
            let cluster = try NamedCluster.start(engines: 1)
            defer {
                let (_, leftovers) = cluster.stop()
                #expect(leftovers.isEmpty, "left behind: \(leftovers)")
            }
            let controllers = ProcessTable.processes(withToken: "PXSH_IT_TOKEN=\(cluster.token)").filter {
                $0.isAlive && $0.commandLine.contains(" controller ")
            }
            try #require(controllers.count == 1, "\(controllers)")
            kill(controllers[0].pid, SIGSTOP)
            defer { kill(controllers[0].pid, SIGCONT) }
            let listed = try Pxsh.run(["cluster", "list"], timeout: 60)
            expectStatus(listed, .exited(0))
            #expect(listed.lines.contains { $0.hasPrefix("\(cluster.name)  not answering") }, "\(listed.transcript)")
        }

        /// `cluster stop` returns only once the controller is gone, killing it if it has not ended within
        /// `--timeout`, so that `cluster start` of the same name at once gives a cluster that works and
        /// stops cleanly. Here the controller stops in the middle of ending: an engine's atexit handler
        /// sends it SIGSTOP.
        /// `cluster stop` of a controller that does not answer (stopped) signals it after a short grace and says
        /// so, instead of waiting 120 s and failing: it ends its engines as when asked, and its directory goes.
        @Test func clusterStopEndsAStoppedControllerAndSaysSo() throws {
            let cluster = try NamedCluster.start(engines: 1)
            defer { cluster.stop() }
            let controller = try #require(cluster.controllerPID)
            kill(controller, SIGSTOP)
            defer { kill(controller, SIGCONT) }
            let stopped = try Pxsh.run(["cluster", "stop", "--name", cluster.name], timeout: 60)
            expectStatus(stopped, .exited(0))
            #expect(
                stopped.stdout.hasPrefix(
                    "cluster '\(cluster.name)' stopped: its controller (pid \(controller)) did not answer within 10 s "
                        + "(it was stopped), so it was sent SIGTERM and SIGCONT, and ended its engines"
                ),
                "\(stopped.transcript)"
            )
            #expect(!ProcessTable.isAlive(controller))
            let left = Pxsh.leftoverProcesses(token: cluster.token, pxshPID: nil, timeout: 20)
            #expect(left.isEmpty, "left behind: \(left)")
            #expect(access(cluster.directory, F_OK) != 0, "\(cluster.directory) is left")
        }

        @Test func clusterStopThenStartOfTheSameNameAtOnce() throws {
            try withAClusterStartedAgain { old, controller, startAgain in
                let armed = try old.script(
                    "%px import atexit, os, signal; atexit.register(os.kill, \(controller), signal.SIGSTOP)"
                )
                expectStatus(armed, .exited(0))
                let stop = try Pxsh.run(["cluster", "stop", "--name", old.name, "--timeout", "3"], timeout: 60)
                expectStatus(stop, .exited(0))
                #expect(!ProcessTable.isAlive(controller), "the old controller still runs after `cluster stop`")
                _ = try startAgain()
                // An old controller still there would now end, and take the new one's socket with it.
                kill(controller, SIGCONT)
            }
        }

        /// A controller removes only the files that are still its own when it ends: a named cluster's
        /// directory may hold a new controller's by then (here the old one's were removed by hand).
        @Test func aControllerEndingLateLeavesTheFilesOfANewClusterOfItsName() throws {
            let files = ["controller.sock", "cluster.json", "cluster.key", "connection.json"]
            try withAClusterStartedAgain { old, controller, startAgain in
                kill(controller, SIGSTOP)
                kill(controller, SIGTERM)  // seen when it runs again
                for file in files { unlink(old.directory + "/" + file) }
                let new = try startAgain()
                kill(controller, SIGCONT)
                #expect(eventually(timeout: 30) { !ProcessTable.isAlive(controller) })
                for file in files {
                    #expect(access(new.directory + "/" + file, F_OK) == 0, "\(file) of the new cluster was removed")
                }
            }
        }

        /// Runs `body` with a named cluster of one engine, its controller's pid, and a function that starts
        /// a cluster of the same name again. Then the old controller must be gone and the cluster of that
        /// name must answer; both clusters are stopped, and must leave nothing running.
        private func withAClusterStartedAgain(
            _ body: (NamedCluster, pid_t, () throws -> NamedCluster) throws -> Void
        ) throws {
            let old = try NamedCluster.start(engines: 1)
            var clusters = [old]
            defer {
                for cluster in clusters {
                    if let pid = cluster.controllerPID { kill(pid, SIGCONT) }
                    let (_, leftovers) = cluster.stop()
                    #expect(leftovers.isEmpty, "left behind: \(leftovers)")
                }
            }
            let controller = try #require(old.controllerPID)
            try body(old, controller) {
                let new = try NamedCluster.start(engines: 1, name: old.name)
                clusters.append(new)
                return new
            }
            #expect(eventually(timeout: 30) { !ProcessTable.isAlive(controller) })
            let status = try Pxsh.run(["cluster", "status", "--name", old.name], timeout: 60)
            expectStatus(status, .exited(0))
        }

        /// Ctrl-C while `pxsh cluster start` waits for its engines stops what had started: no cluster is left
        /// running (or half-started) behind a command the user interrupted.
        @Test func ctrlCDuringClusterStartLeavesNoCluster() throws {
            // Engines that take a minute to start: their Python imports this sitecustomize (pxsh's own probe of the
            // python runs it with -I, which ignores PYTHONPATH).
            let site = try TemporaryDirectory(prefix: "pxsh-it-slow-site")
            try site.write("import time\ntime.sleep(60)\n", to: "sitecustomize.py")
            let name = "it-\(getpid())-interrupted-\(UInt32.random(in: 0...UInt32.max))"
            let (start, token) = try Pxsh.start(
                ["cluster", "start", "--name", name, "-n", "1"],
                setting: ["PYTHONPATH": site.path]
            )
            defer {
                for entry in Pxsh.leftoverProcesses(token: token, pxshPID: nil, timeout: 0) { kill(entry.pid, SIGKILL) }
                _ = try? Pxsh.run(["cluster", "stop", "--name", name], timeout: 20)
                // The stopped cluster's directory keeps its logs; a test's cluster leaves nothing behind.
                if let layout = try? ClusterLayout.named(name, create: false) {
                    TemporaryDirectory.removeTree(layout.directory)
                }
            }
            let engineStarted = eventually(timeout: 60) {
                ProcessTable.processes(withToken: "PXSH_IT_TOKEN=\(token)").contains {
                    $0.isAlive && $0.commandLine.contains(" engine ")
                }
            }
            try #require(engineStarted, "no engine process appeared")

            start.signal(SIGINT)
            #expect(start.waitForExit(timeout: 30) == .exited(130), "\(start.transcript)")
            #expect(start.stderr.contains("interrupted"), "\(start.transcript)")
            let leftovers = Pxsh.leftoverProcesses(token: token, pxshPID: nil)
            #expect(leftovers.isEmpty, "left behind: \(leftovers)")
            let listed = try Pxsh.run(["cluster", "list"], timeout: 60)
            #expect(!listed.stdout.contains(name), "\(listed.transcript)")
            // Nor its directory, with logs of nothing that runs.
            let directory = try ClusterLayout.named(name, create: false).directory
            #expect(access(directory, F_OK) != 0, "\(directory) is left")
        }

        /// A file left open on the engines and at home is flushed when pxsh ends, as Python's exit
        /// flushes it, and atexit handlers run.
        @Test func leavingFlushesOpenFilesAndRunsAtexitHandlers() throws {
            let directory = try TemporaryDirectory(prefix: "pxsh-it-exit")
            let path = directory.path
            let run = try Pxsh.script(
                """
                %px f = open(f"\(path)/buf-{rank}.txt", "w"); f.write("important data\\n")
                g = open("\(path)/buf-home.txt", "w"); g.write("home data\\n")
                %px import atexit; atexit.register(lambda: open(f"\(path)/atexit-{rank}.txt", "w").write("atexit ran"))
                """,
                engines: 2
            )
            expectStatus(run, .exited(0))
            #expect(directory.contents(of: "buf-0.txt") == "important data\n", "\(run.transcript)")
            #expect(directory.contents(of: "buf-1.txt") == "important data\n", "\(run.transcript)")
            #expect(directory.contents(of: "buf-home.txt") == "home data\n", "\(run.transcript)")
            #expect(directory.contents(of: "atexit-0.txt") == "atexit ran", "\(run.transcript)")
            #expect(directory.contents(of: "atexit-1.txt") == "atexit ran", "\(run.transcript)")
            expectNoLeftovers(run)
        }

        /// Leaving while a task still runs interrupts it, as Ctrl-C would, so that its engine can
        /// still finish Python within the grace period.
        @Test func leavingWhileATaskRunsInterruptsItAndRunsAtexitHandlers() throws {
            let directory = try TemporaryDirectory(prefix: "pxsh-it-busy-exit")
            let path = directory.path
            let run = try Pxsh.script(
                """
                %px f = open(f"\(path)/buf-{rank}.txt", "w"); f.write("important data\\n")
                %px import atexit; atexit.register(lambda: open(f"\(path)/atexit-{rank}.txt", "w").write("atexit ran"))
                %px --noblock import time; open(f"\(path)/running-{rank}", "w").close(); time.sleep(60)
                import os, time
                while len([n for n in os.listdir("\(path)") if n.startswith("running-")]) < 2: time.sleep(0.01)
                """,
                engines: 2
            )
            expectStatus(run, .exited(0))
            for rank in 0..<2 {
                #expect(directory.contents(of: "buf-\(rank).txt") == "important data\n", "\(run.transcript)")
                #expect(directory.contents(of: "atexit-\(rank).txt") == "atexit ran", "\(run.transcript)")
            }
            expectNoLeftovers(run)
        }

        /// `%restart` and `%remove` ask the engine to finish Python before they end it.
        @Test func restartAndRemoveLetPythonFinish() throws {
            let directory = try TemporaryDirectory(prefix: "pxsh-it-restart")
            let path = directory.path
            let run = try Pxsh.script(
                """
                %px import atexit; atexit.register(lambda: open(f"\(path)/atexit-{rank}.txt", "w").write("atexit ran"))
                %restart 0
                %remove 1
                %px print("after", rank)
                """,
                engines: 2
            )
            expectStatus(run, .exited(0))
            #expect(directory.contents(of: "atexit-0.txt") == "atexit ran", "restart: \(run.transcript)")
            #expect(directory.contents(of: "atexit-1.txt") == "atexit ran", "remove: \(run.transcript)")
            #expect(run.lines.contains("[stdout:0] after 0"), "\(run.transcript)")
            expectNoLeftovers(run)
        }

        /// An engine that does not finish (here it ignores everything in a busy loop) is killed after the
        /// grace period, and nothing is left behind.
        @Test func anEngineThatDoesNotExitIsKilledAfterTheGracePeriod() throws {
            let directory = try TemporaryDirectory(prefix: "pxsh-it-stuck")
            let started = directory.path + "/started"
            let run = try Pxsh.script(
                """
                %px --noblock import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); open("\(started)", "w").close(); exec("while True: pass")
                import os, time; [time.sleep(0.01) for _ in iter(lambda: os.path.exists("\(started)"), True)]
                """,
                engines: 1
            )
            expectStatus(run, .exited(0))
            expectNoLeftovers(run)
        }

        // MARK: - %abort

        /// A `%px` queued behind another one is cancelled by `%abort` and never runs.
        @Test func abortCancelsAQueuedPx() throws {
            let directory = try TemporaryDirectory(prefix: "pxsh-it-abort")
            let go = directory.path + "/go"
            let ran = directory.path + "/second-ran"
            let run = try Pxsh.script(
                """
                %px --noblock -o first import os, time; [time.sleep(0.01) for _ in iter(lambda: os.path.exists("\(go)"), True)]
                %px --noblock -o second open("\(ran)", "w").close(); print("second ran")
                %abort second
                open("\(go)", "w").close()
                %wait first
                %pxresult second
                %px print("after")
                """,
                engines: 1
            )
            #expect(run.stdout.contains("aborted 1 task\n"), "\(run.transcript)")
            #expect(!run.stdout.contains("already running"), "\(run.transcript)")
            #expect(!run.stdout.contains("second ran"), "\(run.transcript)")
            #expect(run.stdout.contains("[0:execute] TaskAborted"), "\(run.transcript)")
            #expect(directory.contents(of: "second-ran") == nil, "\(run.transcript)")
            expectNoLeftovers(run)
        }

        // MARK: - No engine, no wait

        @Test(arguments: [
            "%map lambda x: x range(3)",
            "%apply abs -1",
        ])
        func loadBalancedWorkWithNoEngineFailsAtOnce(command: String) throws {
            let run = try Pxsh.script(command, engines: 0, timeout: 60)
            expectStatus(run, .exited(1))
            #expect(run.stdout.contains("EngineError: no engine to run it"), "\(run.transcript)")
            expectNoLeftovers(run)
        }

        @Test func loadBalancedWorkAfterRemovingEveryEngineFailsAtOnce() throws {
            let run = try Pxsh.script(
                """
                %remove all
                %map lambda x: x range(3)
                """,
                engines: 2,
                timeout: 60
            )
            expectStatus(run, .exited(1))
            #expect(run.stdout.contains("EngineError: no engine to run it"), "\(run.transcript)")
            expectNoLeftovers(run)
        }

        /// Tasks still waiting for an engine when the last one goes fail then.
        @Test func queuedLoadBalancedWorkFailsWhenTheLastEngineGoes() throws {
            let run = try Pxsh.script(
                """
                import time
                def nap(s): time.sleep(s); return s
                %map --noblock -o m --chunksize 1 nap [5]*20
                %remove 0
                %wait m
                """,
                engines: 1,
                timeout: 60
            )
            expectStatus(run, .exited(1))
            #expect(run.stdout.contains("EngineError: no engine to run it"), "\(run.transcript)")
            expectNoLeftovers(run)
        }

        // MARK: - Forks

        /// A child forked by user code and left running never speaks on the engine's connection.
        @Test func aForkedChildDoesNotTakeOverTheEngine() throws {
            let run = try Pxsh.script(
                """
                %px -t 0 import os; pid = os.fork()
                %px -t 0 print("one")
                %px -t 0 print("two")
                %px -t 0 print("three")
                %px -t 0 import multiprocessing as mp; print(mp.get_context("fork").Pool(2).map(abs, [-1, -2]))
                """,
                engines: 1,
                timeout: 60
            )
            expectStatus(run, .exited(0))
            for word in ["one", "two", "three", "[1, 2]"] {
                #expect(run.lines.contains("[stdout:0] \(word)"), "\(run.transcript)")
            }
            expectNoLeftovers(run)
        }

        // MARK: - Stale directories

        /// The private directory of a controller killed with SIGKILL (and a client that could not clean
        /// up either) is removed by the next pxsh.
        @Test func theNextPxshSweepsTheDirectoryOfAKilledController() throws {
            // A runtime directory of its own: any other test's pxsh would sweep the stale directory too.
            let runtime = try TemporaryDirectory(prefix: "pxsh-it-runtime")
            let isolated = ["XDG_RUNTIME_DIR": runtime.path]
            let (pxsh, token) = try Pxsh.start(["-n", "1"], setting: isolated)
            pxsh.write("%px print('up')\n")
            _ = try pxsh.waitForOutput(timeout: 60) { $0.contains("[stdout:0] up") }
            let root = runtime.path + "/pxsh"
            let directory = root + "/" + (try #require(Self.privateDirectory(of: pxsh.pid, in: root)))
            let controller = try #require(
                ProcessTable.processes(withToken: "PXSH_IT_TOKEN=\(token)").first {
                    $0.commandLine.contains(" controller ") && $0.commandLine.contains(directory)
                }
            )
            // Neither may clean up: the client is stopped while its controller is killed.
            pxsh.signal(SIGSTOP)
            kill(controller.pid, SIGKILL)
            pxsh.signal(SIGKILL)
            _ = pxsh.waitForExit(timeout: 30)
            #expect(Pxsh.leftoverProcesses(token: token, pxshPID: pxsh.pid).isEmpty)
            #expect(access(directory, F_OK) == 0, "the test needs the stale directory \(directory)")

            let next = try Pxsh.run(["-n", "0", "-c", "print('next')"], setting: isolated)
            expectStatus(next, .exited(0))
            #expect(access(directory, F_OK) != 0, "\(directory) is still there")
        }

        static func privateDirectory(of pid: pid_t, in root: String) -> String? {
            guard let directory = opendir(root) else { return nil }
            defer { closedir(directory) }
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
                }
                if name.hasPrefix("private-\(pid)-") { return name }
            }
            return nil
        }
    }
}
