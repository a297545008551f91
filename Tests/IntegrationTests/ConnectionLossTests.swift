import PxClient
import PxPlatform
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension EndToEnd {
    /// No request is left waiting: when a connection closes, whoever waits on it learns at once.
    @Suite struct ConnectionLoss {
        /// The client's connection to the controller closes (the controller is killed): every result
        /// still waiting fails at once, with the reason, instead of staying pending for ever.
        @Test func killingTheControllerFailsEveryWaitingResultAtOnce() throws {
            let cluster = try Cluster.start(engines: 2)
            defer {
                cluster.shutdown()
                RuntimeDirectory.remove(cluster.directory)
            }
            let running = try cluster.view([0]).execute("import time\nprint('started', flush=True)\ntime.sleep(300)")
            let queued = try cluster.view([0, 1]).execute("import time\ntime.sleep(300)")
            let started = try eventually(timeout: 60) {
                try cluster.poll()
                return !running.tasks[0].stdout.isEmpty
            }
            try #require(started, "the task never started")
            let controller = try #require(
                ProcessTable.descendants(of: getpid()).compactMap(ProcessTable.entry).first {
                    $0.commandLine.contains(" controller ") && $0.commandLine.contains(cluster.directory)
                },
                "no controller among this process's children"
            )
            kill(controller.pid, SIGKILL)

            #expect(throws: ClusterError.self) { try cluster.wait(for: running, timeout: 60) }
            #expect(running.isReady && queued.isReady, "\(running.summary) \(queued.summary)")
            #expect(running.state == .failed && queued.state == .failed)
            let errors = running.errors + queued.errors
            #expect(errors.count == 3)
            for error in errors {
                #expect(error.kind == .disconnected)
                #expect(error.description.contains("Disconnected: lost the connection to the controller"), "\(error)")
            }
            // The killed controller could not remove its private directory: the client that made it does.
            cluster.shutdown()
            #expect(access(cluster.directory, F_OK) != 0, "\(cluster.directory) is left")
        }

        /// Leaving a cluster fails what still waits on it, rather than leaving it pending.
        @Test func shuttingDownFailsWhatIsStillWaiting() throws {
            let cluster = try Cluster.start(engines: 1)
            let result = try cluster.view([0]).execute("import time\ntime.sleep(300)")
            cluster.shutdown()
            #expect(result.isReady)
            #expect(result.errors.map(\.kind) == [.disconnected])
        }

        /// The controller's side: an engine whose connection closes while it runs a task (here it
        /// shuts its own socket down and sleeps on) fails that task with an EngineError, promptly,
        /// and comes back.
        @Test func anEngineThatDropsItsConnectionFailsItsTask() throws {
            let cluster = try Cluster.start(engines: 1)
            defer { cluster.shutdown() }
            let code = """
                import os, socket, time
                for fd in os.listdir('/proc/self/fd'):
                    try:
                        if os.readlink(f'/proc/self/fd/{fd}').startswith('socket:'):
                            socket.socket(fileno=int(fd)).shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                time.sleep(300)
                """
            let result = try cluster.view([0]).execute(code)
            #expect(try cluster.wait(for: result, timeout: 60), "the task is still waiting")
            let error = try #require(result.errors.first)
            #expect(error.kind == .engineError)
            #expect(error.value.contains("lost its connection"), "\(error)")
        }
    }
}
