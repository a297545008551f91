import PxPlatform
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension EndToEnd {
    /// Local engines are forked from a zygote that started Python once (issue 12); the controller
    /// adopts them, so it signals and reaps them as it did engines it spawned itself.
    @Suite struct Zygote {
        /// What an engine tells of itself: its command line's first words, and its parent's role.
        static let lineage = """
            import os; print("lineage", open(f"/proc/{os.getpid()}/cmdline").read().split("\\0")[1:3], \
            open(f"/proc/{os.getppid()}/cmdline").read().split("\\0")[1], os.getpgid(0) == os.getpid())
            """

        /// Runs `body` with an interactive `pxsh -n 1` and its test token; then ends it, and kills
        /// whatever it left running.
        static func withInteractivePxsh(_ body: (ChildProcess, String) throws -> Void) throws {
            let (pxsh, token) = try Pxsh.start(["-n", "1"])
            defer {
                pxsh.closeInput()
                _ = pxsh.waitForExit(timeout: 60)
                for entry in Pxsh.leftoverProcesses(token: token, pxshPID: pxsh.pid, timeout: 10) {
                    kill(entry.pid, SIGKILL)
                }
            }
            try body(pxsh, token)
        }

        @Test func enginesAndARestartedOneAreForkedAndAdoptedByTheController() throws {
            let run = try Pxsh.script(
                """
                %px \(Zygote.lineage)
                %restart 1
                %px -t 1 \(Zygote.lineage)
                %px x = rank * 10
                %px print("works", x)
                """,
                engines: 2
            )
            expectStatus(run, .exited(0))
            let forked = "lineage ['engine', '--id=1'] controller True"
            #expect(run.lines.contains("[stdout:0] lineage ['engine', '--id=0'] controller True"), "\(run.transcript)")
            #expect(run.lines.filter { $0 == "[stdout:1] " + forked }.count == 2, "\(run.transcript)")
            #expect(run.lines.contains("[stdout:1] works 10"), "\(run.transcript)")
            expectNoLeftovers(run)
        }

        /// The zygote is forked from the controller as it starts: of the controller's descriptors it
        /// keeps none (a copy of the listening socket, or of the controller's log, would outlive the
        /// controller's own), only its socket to the controller and its log.
        @Test func theZygoteIsForkedFromTheControllerAndHoldsOnlyItsSocketAndItsLog() throws {
            try Zygote.withInteractivePxsh { pxsh, token in
                pxsh.write("%px print('ready')\n")
                try pxsh.waitForOutput(timeout: 60) { $0.contains("[stdout:0] ready") }
                let cluster = ProcessTable.processes(
                    withToken: "PXSH_IT_TOKEN=\(token)",
                    orCommandLineContaining: "/private-\(pxsh.pid)-"
                )
                let zygote = try #require(
                    cluster.first { $0.isAlive && $0.commandLine.contains(" engine --zygote ") },
                    "\(cluster)"
                )
                let parent = ProcessTable.entry(zygote.parent)
                #expect(
                    parent?.commandLine.contains(" controller ") == true,
                    "\(zygote) \(parent.map { "\($0)" } ?? "?")"
                )
                let directory = "/proc/\(zygote.pid)/fd"
                let targets = (DirectoryListing.names(in: directory) ?? []).map { name in
                    var buffer = [CChar](repeating: 0, count: 4096)
                    let count = readlink(directory + "/" + name, &buffer, buffer.count - 1)
                    return count > 0
                        ? String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
                }
                #expect(targets.filter { $0.hasPrefix("socket:") }.count == 1, "\(targets)")
                #expect(targets.contains { $0.hasSuffix("/zygote.log") }, "\(targets)")
                #expect(!targets.contains { $0.hasSuffix("/controller.log") }, "\(targets)")
            }
        }

        /// The objects of the zygote's Python start are frozen (gc.freeze) in every engine it forks, a
        /// restarted one too: the engines' collections and their Python's finalization leave them alone,
        /// and their pages stay shared.
        @Test func enginesKeepWhatTheZygoteStartedFrozen() throws {
            let run = try Pxsh.script(
                """
                %px import gc; print("frozen", gc.get_freeze_count() > 1000)
                %restart 1
                %px -t 1 import gc; print("frozen", gc.get_freeze_count() > 1000)
                """,
                engines: 2
            )
            expectStatus(run, .exited(0))
            // Identical output of several engines shows once.
            #expect(run.lines.contains("[stdout:0,1] frozen True"), "\(run.transcript)")
            #expect(run.lines.contains("[stdout:1] frozen True"), "\(run.transcript)")
            expectNoLeftovers(run)
        }

        /// The runtime's compiled code is kept in the user's runtime directory: a start loads it rather
        /// than compile the runtime again, and a damaged copy only costs a compile.
        @Test func theRuntimeIsCompiledOnceAndADamagedCopyIsReplaced() throws {
            let root = "/tmp/pxsh-code-cache-test-\(getpid())"
            try RuntimeDirectory.makePrivateDirectory(root)
            defer {
                _ = try? ChildProcess(executable: "/bin/rm", arguments: ["-rf", root], input: "").waitForExit(
                    timeout: 30
                )
            }
            func run() throws {
                let run = try Pxsh.run(["-n", "1", "-c", "%px print('ran', rank)"], setting: ["XDG_RUNTIME_DIR": root])
                expectStatus(run, .exited(0))
                #expect(run.lines.contains("[stdout:0] ran 0"), "\(run.transcript)")
            }
            func inode(_ path: String) -> UInt64 {
                var info = stat()
                return lstat(path, &info) == 0 ? UInt64(info.st_ino) : 0
            }
            try run()
            let directory = root + "/pxsh/code-cache"
            let names = DirectoryListing.names(in: directory) ?? []
            try #require(names.count == 1, "\(names)")
            let path = directory + "/" + names[0]
            let damaged = try FileDescriptor.open(path, flags: O_WRONLY | O_TRUNC)
            try damaged.writeAll("not marshalled code")
            damaged.close()
            try run()
            #expect(try FileDescriptor.readAll(path).count > 10_000)
            let rewritten = inode(path)
            try run()
            #expect(inode(path) == rewritten, "an intact copy is loaded, not written again")
            #expect(DirectoryListing.names(in: directory) == names)
        }

        /// With `PXSH_NO_ZYGOTE` set, each engine is spawned and starts Python itself, as before.
        @Test func withoutTheZygoteEnginesAreSpawned() throws {
            let run = try Pxsh.run(["-n", "1", "-c", "%px \(Zygote.lineage)"], setting: ["PXSH_NO_ZYGOTE": "1"])
            expectStatus(run, .exited(0))
            #expect(
                run.lines.contains("[stdout:0] lineage ['engine', '--socket'] controller True"),
                "\(run.transcript)"
            )
            expectNoLeftovers(run)
        }

        /// A process that a restarted engine left running ends with it and, adopted by the controller
        /// (a subreaper), is reaped rather than left a zombie while the cluster runs.
        @Test func whatARestartedEngineLeftRunningIsReaped() throws {
            try Zygote.withInteractivePxsh { pxsh, token in
                pxsh.write("%px import subprocess; p = subprocess.Popen(['sleep', '600']); print('child', p.pid)\n")
                let output = try pxsh.waitForOutput(timeout: 60) { $0.contains("[stdout:0] child ") }
                let line = try #require(output.split(separator: "\n").first { $0.contains("[stdout:0] child ") })
                let child = try #require(pid_t(line.split(separator: " ").last ?? ""), "\(output)")
                pxsh.write("%restart 0\n%px print('restarted')\n")
                try pxsh.waitForOutput(timeout: 60) { $0.contains("[stdout:0] restarted") }
                // kill(pid, 0) succeeds for a zombie too: only a reaped process is gone.
                let isGone = eventually(timeout: 10) { kill(child, 0) != 0 && errno == ESRCH }
                #expect(isGone, "process \(child) is still there: \(ProcessTable.entry(child).map { "\($0)" } ?? "?")")
            }
        }
    }
}
