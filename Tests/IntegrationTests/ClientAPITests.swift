import PxClient
import PxPlatform
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The repr an execute task returned, if any.
private func resultRepr(_ task: AsyncResult.Task) -> String? {
    task.executeReply?.resultRepr
}

/// Collects the cluster events a client receives.
private final class EventLog {
    var events: [ClusterEvent] = []
}

extension EndToEnd {
    /// The Swift client library (PxClient) against a real cluster, asserting on values rather than on text.
    ///
    /// The cluster is started with the real `pxsh cluster start`; each test attaches its own client.
    @Suite(.sharedCluster(engines: 4)) struct ClientAPI {
        func attach() throws -> Cluster {
            try Cluster.attach(name: NamedCluster.current().name)
        }

        @Test func attachingSeesFourEnginesAndNeverTheHomeEngine() throws {
            let cluster = try attach()
            defer { cluster.shutdown() }
            #expect(cluster.liveEngineIDs == [0, 1, 2, 3])
            #expect(!cluster.liveEngineIDs.contains(EngineNumber.home))
            #expect(cluster.engineList.map(\.rank) == [0, 1, 2, 3])
            let pids = cluster.engineList.map(\.pid)
            #expect(Set(pids).count == 4)
            for pid in pids {
                #expect(ProcessTable.entry(pid)?.commandLine.contains(" engine ") == true, "pid \(pid) is an engine")
            }

            let result = try cluster.view().execute("import os\nos.getpid(), rank, size")
            try cluster.finish(result)
            #expect(result.engines == [0, 1, 2, 3])
            #expect(result.tasks.map(resultRepr) == (0..<4).map { "(\(pids[$0]), \($0), 4)" })
        }

        /// The controller holds a request's answers back to send them in one write, but never until a slow
        /// task ends: an engine that finished shows its reply and output while another still runs.
        @Test func aFinishedTaskIsSeenWhileAnotherOfItsRequestStillRuns() throws {
            let cluster = try attach()
            defer { cluster.shutdown() }
            let gate = "/tmp/pxsh-gate-\(getpid())-\(Clock.monotonicNanoseconds)"
            defer { unlink(gate) }
            let result = try cluster.view([0, 1]).execute(
                """
                import os, time
                if rank == 1:
                    while not os.path.exists(\(gate.debugDescription)): time.sleep(0.01)
                print("done", rank)
                """
            )
            for _ in 0..<120 where !result.tasks[0].isDone { try cluster.pump(timeoutMilliseconds: 1_000) }
            #expect(result.tasks[0].isDone)
            #expect(!result.tasks[1].isDone)
            #expect(result.tasks[0].stdout == Array("done 0\n".utf8))
            let file = try FileDescriptor.open(gate, flags: O_WRONLY | O_CREAT)
            file.close()
            try cluster.finish(result)
            #expect(result.tasks[1].stdout == Array("done 1\n".utf8))
        }

        @Test func anExecuteResultRecordsOutputValuesStatesAndTimes() throws {
            let cluster = try attach()
            defer { cluster.shutdown() }
            let result = try cluster.view().execute("import time\ntime.sleep(0.3)\nprint('out', rank)\nrank * 2")
            // Just submitted: nothing can be done yet, and a zero timeout says so without waiting.
            #expect(!result.isReady)
            #expect(result.state == .pending || result.state == .running)
            #expect(try cluster.wait(for: result, timeout: 0) == false)

            #expect(try cluster.wait(for: result, timeout: 60))
            #expect(result.state == .done)
            #expect(result.completedCount == 4)
            #expect(result.errors.isEmpty)
            for (index, task) in result.tasks.enumerated() {
                #expect(task.engine == Int32(index))
                #expect(String(decoding: task.stdout, as: UTF8.self) == "out \(index)\n")
                #expect(task.stderr.isEmpty)
                #expect(resultRepr(task) == "\(index * 2)")
                let started = try #require(task.started)
                let completed = try #require(task.completed)
                #expect(started <= completed)
            }
            #expect(result.elapsed > 0)
            #expect(result.summary.contains("done"))
        }

        @Test func remoteExceptionsArriveAsValuesNamingTheirEngines() throws {
            let cluster = try attach()
            defer { cluster.shutdown() }
            let all = try cluster.view().execute("1/0")
            #expect(throws: CompositeError.self) { try cluster.finish(all) }
            #expect(all.state == .failed)
            #expect(all.errors.map(\.engine) == [0, 1, 2, 3])
            for error in all.errors {
                #expect(error.name == "ZeroDivisionError")
                #expect(error.value == "division by zero")
                #expect(error.operation == "execute")
                #expect(error.kind == .exception("ZeroDivisionError"))
                #expect(error.traceback.contains("1/0"))
                #expect(!error.traceback.contains("pxsh_runtime") && !error.traceback.contains("<pxsh-runtime>"))
            }

            let one = try cluster.view([2]).execute("raise KeyError('k')")
            do {
                try cluster.finish(one)
                Issue.record("a KeyError on engine 2 was not thrown")
            } catch let error as RemoteError {
                #expect(error.engine == 2)
                #expect(error.name == "KeyError")
                #expect(error.description.hasPrefix("[2:execute] KeyError"))
            }
        }

        @Test func pushPullScatterAndGatherMoveValues() throws {
            let cluster = try attach()
            defer { cluster.shutdown() }
            let view = cluster.view()
            try view.push([(name: "api_pushed", expression: "{'a': [1, 2], 'b': 'ü'}")])
            let pulled = try view.pull(["api_pushed"])
            #expect(pulled.map(\.engine) == [0, 1, 2, 3])
            #expect(pulled.map(\.reprs) == Array(repeating: ["{'a': [1, 2], 'b': 'ü'}"], count: 4))

            try view.scatter("api_scattered", expression: "list(range(10))")
            let blocks = try view.execute("api_scattered")
            try cluster.finish(blocks)
            #expect(blocks.tasks.map(resultRepr) == ["[0, 1, 2]", "[3, 4, 5]", "[6, 7]", "[8, 9]"])
            #expect(try view.gather("api_scattered") == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]")

            try cluster.view([1, 3]).push([(name: "api_subset", expression: "'only 1 and 3'")])
            let present = try view.execute("'api_subset' in globals()")
            try cluster.finish(present)
            #expect(present.tasks.map(resultRepr) == ["False", "True", "False", "True"])
        }

        @Test func loadBalancedMapAndApplyReturnValuesInOrder() throws {
            let cluster = try attach()
            defer { cluster.shutdown() }
            let balanced = cluster.loadBalanced()
            let map = try balanced.map(function: "lambda x: x * 2", sequence: "range(100)", chunkSize: .fixed(1))
            #expect(map.tasks.count == 100)
            #expect(try cluster.wait(for: map, timeout: 120))
            #expect(map.state == .done)
            #expect(
                map.tasks.allSatisfy { [0, 1, 2, 3].contains($0.engine ?? -9) },
                "every task ran on an engine, never at home"
            )
            #expect(
                try balanced.collect(map, into: ["api_doubled"]) == "["
                    + (0..<100).map { String($0 * 2) }.joined(separator: ", ") + "]"
            )

            let apply = try balanced.apply(function: "divmod", arguments: "17, 5")
            #expect(try cluster.wait(for: apply, timeout: 60))
            #expect(try balanced.collectValue(apply, into: ["api_divmod"]) == "(3, 2)")
        }

        /// A map asked to send its values home sends each chunk's as its task ends: the home engine holds
        /// some while the map still runs, and nothing once it is collected (or has failed).
        @Test func aMapsValuesComeHomeWhileItRuns() throws {
            let cluster = try attach()
            defer { cluster.shutdown() }
            let gate = "/tmp/pxsh-gate-\(getpid())-\(Clock.monotonicNanoseconds)"
            defer { unlink(gate) }
            let balanced = cluster.loadBalanced()
            let held =
                "sum(v.joined_count + len(v.parts) for v in __import__('sys').modules['_pxsh']._map_values.values())"
            try cluster.finish(
                try cluster.executeLocally(
                    """
                    import os, time
                    def api_slow_last(x):
                        while x == 7 and not os.path.exists(\(gate.debugDescription)):
                            time.sleep(0.01)
                        return x * 2
                    """
                )
            )
            let map = try balanced.map(
                function: "api_slow_last",
                sequence: "range(8)",
                chunkSize: .fixed(1),
                valuesComeHome: .items
            )
            for _ in 0..<600 where map.completedCount < 7 { try cluster.pump(timeoutMilliseconds: 100) }
            #expect(map.completedCount == 7 && !map.isReady)
            let during = try cluster.executeLocally(held)
            try cluster.finish(during)
            #expect(Int(during.tasks.first.flatMap(resultRepr) ?? "") ?? 0 >= 1, "chunks are home before the map ends")

            let file = try FileDescriptor.open(gate, flags: O_WRONLY | O_CREAT)
            file.close()
            #expect(try cluster.wait(for: map, timeout: 120))
            #expect(try balanced.collect(map, into: ["api_streamed"]) == "[0, 2, 4, 6, 8, 10, 12, 14]")
            let after = try cluster.executeLocally("api_streamed == [x * 2 for x in range(8)], \(held)")
            try cluster.finish(after)
            #expect(after.tasks.first.flatMap(resultRepr) == "(True, 0)")

            let failing = try balanced.map(
                function: "lambda x: 1 // (x - 5)",
                sequence: "range(8)",
                chunkSize: .fixed(1),
                valuesComeHome: .items
            )
            #expect(try cluster.wait(for: failing, timeout: 120))
            #expect(failing.isFailed)
            let dropped = try cluster.executeLocally(held)
            try cluster.finish(dropped)
            #expect(dropped.tasks.first.flatMap(resultRepr) == "0", "a failed map's values are dropped at home")
        }

        @Test func whoShowsEachEnginesVariables() throws {
            let cluster = try attach()
            defer { cluster.shutdown() }
            try cluster.view().push([(name: "api_who", expression: "123")])
            let rows = try cluster.view().who()
            #expect(rows.map(\.engine) == [0, 1, 2, 3])
            for (engine, variables) in rows {
                let names = variables.map(\.name)
                #expect(names.contains("api_who"))
                #expect(
                    variables.first { $0.name == "api_who" }.map { $0.type == "int" && $0.summary == "123" } == true
                )
                #expect(variables.first { $0.name == "rank" }?.summary == "\(engine)")
            }
        }
    }

    /// Engine death as the client library sees it; the suite's cluster is its own, since it loses an engine.
    @Suite(.sharedCluster(engines: 2)) struct ClientAPIEngineDeath {
        @Test func aKilledEngineFailsItsTaskWithAnEngineErrorAndComesBackWithItsRank() throws {
            let cluster = try Cluster.attach(name: NamedCluster.current().name)
            defer { cluster.shutdown() }
            let log = EventLog()
            cluster.onEvent = { log.events.append($0) }
            let victim = try #require(cluster.engineList.first { $0.id == 1 }?.pid)

            let result = try cluster.view([1]).execute("import time\nprint('started', flush=True)\ntime.sleep(300)")
            let started = try eventually(timeout: 60) {
                try cluster.pump(timeoutMilliseconds: 50)
                return !result.tasks[0].stdout.isEmpty
            }
            try #require(started, "the task never started")
            kill(victim, SIGKILL)

            #expect(try cluster.wait(for: result, timeout: 60))
            let error = try #require(result.errors.first)
            #expect(error.kind == .engineError)
            #expect(error.engine == 1)
            #expect(error.value.contains("signal 9"), "\(error)")
            #expect(
                log.events.contains {
                    if case .engineDied(engine: 1, rank: 1, let cause, _, _) = $0 {
                        cause.contains("signal 9")
                    } else {
                        false
                    }
                },
                "\(log.events)"
            )

            let back = try eventually(timeout: 60) {
                try cluster.pump(timeoutMilliseconds: 50)
                return cluster.engineList.contains { $0.id == 1 && $0.state != .dead && $0.pid != victim }
            }
            #expect(back, "engine 1 was not restarted: \(cluster.engineList)")
            let again = try cluster.view([1]).execute("rank")
            try cluster.finish(again)
            #expect(again.tasks.map(resultRepr) == ["1"])
        }
    }

    /// `Cluster.start` is the library's way to a private cluster, for any Swift program, not just pxsh.
    @Suite struct ClientAPIPrivateCluster {
        @Test func clusterStartWorksFromAProgramOtherThanPxsh() throws {
            let cluster: Cluster
            do {
                cluster = try Cluster.start(engines: 2)
            } catch {
                Issue.record(
                    """
                    Cluster.start failed: \(error)
                    It runs the controller as `\(ProcessSpawner.currentExecutable) controller ...`: this program, \
                    which is not pxsh.
                    """
                )
                return
            }
            defer { cluster.shutdown() }
            let result = try cluster.view().execute("rank")
            try cluster.finish(result)
            #expect(result.tasks.map(resultRepr) == ["0", "1"])
        }
    }
}
