import PxPlatform
import PxSecurity
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `pxsh engine --connection-file - -n K` on another "host": one process starts Python once and
/// forks K engines, which join and serve as engines started one by one do.
extension EndToEnd.RemoteEngines {
    /// `pxsh engine --connection-file - -n K ARGUMENTS` on `host`, joined to `cluster`.
    static func startHostEngines(
        _ count: Int,
        on host: NetworkHost,
        in cluster: NamedCluster,
        arguments: [String] = []
    ) throws -> ChildProcess {
        try host.startPxsh(
            ["engine", "--connection-file", "-", "-n", String(count)] + arguments,
            token: cluster.token,
            input: try connectionFile(of: cluster)
        )
    }

    /// The rows of `%engines` of the engines from `host`, once there are `count` of them idle:
    /// `[id, rank, pid, ...]` as the table shows them.
    static func waitForEngines(
        _ count: Int,
        from host: NetworkHost,
        in cluster: NamedCluster,
        parent: ChildProcess
    ) throws -> [[String]] {
        var rows: [[String]] = []
        _ = try eventually(timeout: 90) {
            let status = try Pxsh.run(["cluster", "status", "--name", cluster.name])
            rows = status.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }.filter {
                $0.count >= 7 && $0.last == host.address && $0[3] == "idle"
            }
            return rows.count >= count || parent.hasExited
        }
        try #require(rows.count == count, "\(rows)\n\(parent.transcript)\n\(cluster.controllerLog)")
        return rows
    }

    @Test func oneProcessStartsAHostsEnginesFromOnePythonAndTheyJoinWithDistinctRanks() throws {
        try Self.withClusterFacingAHost { host, cluster in
            // A controller it cannot reach: one line for the three engines, and status 1.
            var unreachable = try ConnectionFile(json: Array(try Self.connectionFile(of: cluster).utf8))
            unreachable.port = 1
            let failed = try host.startPxsh(
                ["engine", "--connection-file", "-", "-n", "3"],
                token: cluster.token,
                input: unreachable.json
            )
            #expect(failed.waitForExit(timeout: 60) == .exited(1), "\(failed.transcript)")
            let reasons = failed.stderr.split(separator: "\n")
            #expect(
                reasons.count == 1 && reasons[0].hasPrefix("pxsh engine: 3 of 3 engines: cannot reach the controller"),
                "\(failed.transcript)"
            )

            let parent = try Self.startHostEngines(3, on: host, in: cluster)
            let rows = try Self.waitForEngines(3, from: host, in: cluster, parent: parent)
            #expect(Set(rows.map { $0[0] }).count == 3 && Set(rows.map { $0[1] }).count == 3, "\(rows)")
            let run = try cluster.script(
                """
                %px import os; print("parent", os.getppid(), "rank", rank, "size", size)
                %engines
                """
            )
            expectStatus(run, .exited(0))
            // Each is a child of the one process, which started Python for them all.
            for row in rows {
                #expect(
                    run.lines.contains("[stdout:\(row[0])] parent \(parent.pid) rank \(row[1]) size 4"),
                    "\(run.transcript)"
                )
            }
            let shown = run.lines.filter { $0.hasSuffix(" " + host.address) }
            #expect(shown.count == 3, "%engines shows each engine's host:\n\(run.transcript)")
            #expect(!parent.hasExited, "\(parent.transcript)")
        }
    }

    @Test func killingAHostsEngineProcessEndsItsEnginesAndTheClientReportsThemLost() throws {
        try Self.withClusterFacingAHost { host, cluster in
            let parent = try Self.startHostEngines(2, on: host, in: cluster)
            let rows = try Self.waitForEngines(2, from: host, in: cluster, parent: parent)
            let id = try #require(Int(rows[0][0]))
            let pids = rows.compactMap { pid_t($0[2]) }
            let directory = try TemporaryDirectory()
            let client = try Self.startLongTask(on: id, cluster: cluster, directory: directory)
            parent.signal(SIGKILL)
            #expect(client.waitForExit(timeout: 60) == .exited(1), "\(client.transcript)")
            #expect(client.stdout.contains("engine \(id) (rank "), "\(client.transcript)")
            #expect(client.stdout.contains("host \(host.address)) lost: "), "\(client.transcript)")
            #expect(client.stdout.contains("EngineError"), "\(client.transcript)")
            // Its engines died with it, and left the cluster.
            #expect(eventually(timeout: 20) { !pids.contains(where: ProcessTable.isAlive) }, "\(pids)")
            var states: [Int: String] = [:]
            let isLeft = try eventually(timeout: 30) {
                states = try engineStates(of: cluster)
                return states.keys.sorted() == [0]
            }
            #expect(isLeft, "\(states)\n\(cluster.controllerLog)")
        }
    }

    @Test func killingOneForkedEngineIsReportedAndTheOthersKeepWorking() throws {
        try Self.withClusterFacingAHost { host, cluster in
            // Ranks 1...3 of 4, beside the local engine's 0.
            let parent = try Self.startHostEngines(3, on: host, in: cluster, arguments: ["--rank", "1", "--size", "4"])
            let rows = try Self.waitForEngines(3, from: host, in: cluster, parent: parent)
            #expect(rows.map { $0[0] }.sorted() == ["1", "2", "3"] && rows.allSatisfy { $0[0] == $0[1] }, "\(rows)")
            let victim = try #require(rows.first { $0[0] == "2" }.flatMap { pid_t($0[2]) })
            let directory = try TemporaryDirectory()
            let client = try Self.startLongTask(on: 2, cluster: cluster, directory: directory)
            kill(victim, SIGKILL)
            #expect(client.waitForExit(timeout: 60) == .exited(1), "\(client.transcript)")
            #expect(
                client.stdout.contains("engine 2 (rank 2, host \(host.address)) lost: "),
                "\(client.transcript)"
            )
            let run = try cluster.script("%px -t 1,3 print('still', rank)")
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("[stdout:1] still 1"), "\(run.transcript)")
            #expect(run.lines.contains { $0.hasPrefix("[stdout:3] still ") }, "\(run.transcript)")
            #expect(!parent.hasExited, "\(parent.transcript)")
            // When the others end (the cluster stops), it exits, naming the engine that was killed.
            cluster.expectCleanStop()
            #expect(parent.waitForExit(timeout: 30) == .exited(1), "\(parent.transcript)")
            #expect(
                parent.stderr.contains("pxsh engine: the engine with pid \(victim) ended: signal 9 (SIGKILL)"),
                "\(parent.transcript)"
            )
        }
    }
}

extension EndToEnd.RemoteEngines {
    /// Their controller gone, a host's engines leave by themselves, and so does the process that
    /// forked them.
    /// SIGTERM to a host's engine process (`kill`, the end of a launcher's job) reaches its engines,
    /// which end as `cluster stop` ends them (atexit handlers run); then it exits with status 0.
    @Test func sigtermToAHostsEngineProcessEndsItsEnginesAsPythonExits() throws {
        try Self.withClusterFacingAHost { host, cluster in
            let parent = try Self.startHostEngines(2, on: host, in: cluster)
            let pids = try Self.waitForEngines(2, from: host, in: cluster, parent: parent).compactMap { pid_t($0[2]) }
            let directory = try TemporaryDirectory(prefix: "pxsh-it-hterm")
            let run = try cluster.script(
                "%px import atexit, os; atexit.register(lambda p=\(pythonString(directory.path + "/")) + str(os.getpid()): "
                    + "open(p, 'w').write('atexit ran'))"
            )
            expectStatus(run, .exited(0))
            parent.signal(SIGTERM)
            #expect(parent.waitForExit(timeout: 30) == .exited(0), "\(parent.transcript)")
            for pid in pids {
                #expect(directory.contents(of: String(pid)) == "atexit ran", "\(pid)\n\(parent.transcript)")
            }
        }
    }

    @Test func aHostsEnginesAndTheirParentLeaveWhenTheControllerIsKilled() throws {
        try Self.withClusterFacingAHost { host, cluster in
            let parent = try Self.startHostEngines(2, on: host, in: cluster)
            let pids = try Self.waitForEngines(2, from: host, in: cluster, parent: parent).compactMap { pid_t($0[2]) }
            let description = try #require(TemporaryDirectory.contents(ofFile: cluster.directory + "/cluster.json"))
            let pidField = try #require(description.firstRange(of: "\"pid\": "))
            let controller = try #require(pid_t(description[pidField.upperBound...].prefix { $0.isNumber }))
            kill(controller, SIGKILL)
            #expect(parent.waitForExit(timeout: 30) == .exited(0), "\(parent.transcript)")
            #expect(
                parent.stderr.components(separatedBy: "the controller closed the connection").count == 3,
                "\(parent.transcript)"
            )
            #expect(!pids.contains(where: ProcessTable.isAlive), "\(pids)")
        }
    }
}
