import Testing

#if canImport(Glibc)
import Glibc
#endif

extension EndToEnd {
    /// What `%px` shows, where it runs, and a named cluster's life across its clients.
    @Suite(.sharedCluster(engines: 4)) struct OutputAndTargets {
        @Test(arguments: [
            (spec: "all", ranks: [0, 1, 2, 3]), (spec: "0,2", ranks: [0, 2]), (spec: "1:3", ranks: [1, 2]),
            (spec: "::2", ranks: [0, 2]), (spec: "-1", ranks: [3]),
        ])
        func targetSpecsSelectEngines(spec: String, ranks: [Int]) throws {
            let run = try NamedCluster.current().script("%px -t \(spec) print('here', rank)")
            expectStatus(run, .exited(0))
            let shown = run.lines.filter { $0.contains("] here ") }
            #expect(shown == ranks.map { "[stdout:\($0)] here \($0)" }, "\(run.transcript)")
        }

        @Test func outputOfChildProcessesAndStderrIsCapturedPerEngine() throws {
            let run = try NamedCluster.current().script(
                """
                %px import os, sys; os.system("echo from-a-shell"); print("to stderr", rank, file=sys.stderr)
                """
            )
            expectStatus(run, .exited(0))
            for rank in 0..<4 {
                #expect(run.lines.contains("[stdout:\(rank)] from-a-shell"), "\(run.transcript)")
                #expect(run.lines.contains("[stderr:\(rank)] to stderr \(rank)"), "\(run.transcript)")
            }
        }

        @Test func invalidUTF8IsShownEscapedAndHugeOutputIsCut() throws {
            let run = try NamedCluster.current().script(
                """
                %px -t 0 import sys; sys.stdout.buffer.write(b"bad \\xff\\xfe bytes\\n"); sys.stdout.flush()
                %px -t 1 print("y" * 6_000_000)
                """
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("[stdout:0] bad \\xff\\xfe bytes"), "\(run.transcript)")
            let longest = run.lines.map(\.count).max() ?? 0
            #expect(longest < 6_000_000, "6 MB of output were shown whole")
            #expect(run.output.contains("cut"), "a notice says the output was cut")
        }

        @Test func aNamedClusterKeepsItsStateAcrossClients() throws {
            let cluster = try NamedCluster.current()
            let first = try cluster.script("%px kept_across_clients = rank + 100")
            expectStatus(first, .exited(0))
            let second = try cluster.script("%px kept_across_clients")
            expectStatus(second, .exited(0))
            for rank in 0..<4 {
                #expect(
                    second.lines.contains { $0.hasPrefix("Out[\(rank):") && $0.hasSuffix("]: \(rank + 100)") },
                    "\(second.transcript)"
                )
            }
        }

        @Test func aClientKilledMidCommandLeavesTheNamedClusterServing() throws {
            let cluster = try NamedCluster.current()
            let (client, _) = try Pxsh.start(["--cluster", cluster.name])
            client.write(
                "%px --stream import time; print('started', rank, flush=True); time.sleep(0.5); print('done', rank)\n"
            )
            try client.waitForOutput(timeout: 60) { $0.contains("started 3") }
            client.signal(SIGKILL)
            #expect(client.waitForExit(timeout: 30) == .signaled(SIGKILL))

            let next = try cluster.script("%px print('still serving', rank)")
            expectStatus(next, .exited(0))
            #expect(next.lines.contains("[stdout:3] still serving 3"), "\(next.transcript)")
            let listed = try Pxsh.run(["cluster", "list"])
            #expect(listed.stdout.contains(cluster.name), "\(listed.transcript)")
        }
    }
}
