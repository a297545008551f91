import PxPlatform
import PxSecurity

#if canImport(Glibc)
import Glibc
#endif

/// `pxsh engine --connection-file F -n K`: the zygote of one host's engines. It starts Python and
/// loads the runtime once, then forks K engines, each of which joins the cluster and serves exactly
/// as one `pxsh engine` does (``RemoteEngine``).
///
/// Forked engines share one Python start, its pages and one address layout, as the local engines
/// forked by the controller's ``Zygote`` do; engines spawned one by one each get their own layout,
/// and in a round trip on 4 engines they took 74 µs of CPU per task against 53 µs forked.
///
/// It forks before any thread or socket exists (each engine starts its own). Then it stays as the
/// launcher's process (ssh's, or the person's shell's): it passes SIGTERM, SIGINT and SIGHUP on to
/// its engines, reaps them, and exits when they all have, with status 1 and one line per distinct
/// reason if any failed. Its engines die with it (a parent-death signal), so a launcher's job that
/// ends still ends its engines.
enum HostZygote {
    static func run(_ options: EngineOptions, connection: ConnectionFile) -> Never {
        if let logPath = options.logPath {
            do { try Engine.openLog(logPath) } catch { RemoteEngine.fail("cannot open the log: \(error)") }
        }
        // Held from before the first fork, so that none is lost; each engine gets them as usual.
        let held = Signals.Held([SIGCHLD, SIGTERM, SIGINT, SIGHUP])
        let started: Engine.StartedPython
        let reports: (read: FileDescriptor, write: FileDescriptor)
        do {
            started = try Zygote.startPythonToFork(options)
            reports = try FileDescriptor.pipe()
        } catch {
            RemoteEngine.fail("cannot start Python (\(options.programName)): \(error)")
        }
        let parent = getpid()
        var engines: [pid_t] = []
        var failures: [String] = []
        for rank in options.forkedRanks {
            let pid: pid_t?
            do {
                pid = try started.python.forking { try ProcessSpawner.forkCopy() }
            } catch {
                failures.append("cannot fork an engine: \(error)")
                break
            }
            guard let pid else {
                held.release()
                reports.read.close()
                Zygote.dieWithParent(parent)
                RemoteEngine.failureReport = reports.write
                var engine = options
                engine.rank = rank
                engine.forkedRanks = []
                ProcessSpawner.setCommandLine(
                    [CommandLine.arguments[0], "engine", "--connection-file", "..."]
                        + (rank >= 0 ? ["--rank", String(rank)] : [])
                )
                RemoteEngine.run(engine, connection: connection, python: started)
            }
            engines.append(pid)
        }
        reports.write.close()
        let ended = supervise(engines, held: held)
        failures += reasons(in: reports.read, engines: engines.count)
        // One that exited non-zero said why (in its log, or in the reports); one killed could not.
        for engine in ended where engine.wasKilledFromElsewhere {
            failures.append("the engine with pid \(engine.pid) ended: \(engine.termination)")
        }
        for failure in failures { Engine.log("pxsh engine: \(failure)") }
        let isClean = failures.isEmpty && ended.allSatisfy { $0.termination == .exited(0) }
        exit(isClean ? 0 : 1)
    }

    /// How one engine ended.
    private struct Ended {
        let pid: pid_t
        let termination: ProcessSpawner.Termination
        /// The last signal passed on to the engines before it ended.
        let forwarded: Int32?

        /// Whether a signal that did not come through this process ended it (a SIGKILL, a crash).
        var wasKilledFromElsewhere: Bool {
            guard case .signaled(let signal) = termination else { return false }
            return signal != forwarded
        }
    }

    /// Passes the held signals on to `engines` and reaps them, until all have ended.
    private static func supervise(_ engines: [pid_t], held: Signals.Held) -> [Ended] {
        var running = engines
        var forwarded: Int32?
        var ended: [Ended] = []
        while !running.isEmpty {
            let signal = held.next()
            guard signal == SIGCHLD else {
                forwarded = signal
                for pid in running { kill(pid, signal) }
                continue
            }
            running.removeAll { pid in
                guard let termination = ProcessSpawner.reap(pid) else { return false }
                ended.append(Ended(pid: pid, termination: termination, forwarded: forwarded))
                return true
            }
        }
        return ended
    }

    /// The reasons the engines reported, each once: `3 of 4 engines: cannot reach the controller ...`.
    private static func reasons(in reports: FileDescriptor, engines: Int) -> [String] {
        // Without waiting: a process that user code forked in an engine may hold the pipe open.
        try? reports.setNonBlocking(true)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while let count = try? buffer.withUnsafeMutableBytes({ try reports.readAvailable(into: $0) }), count > 0 {
            bytes += buffer[0..<count]
        }
        var counts: [(reason: String, count: Int)] = []
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init) {
            if let index = counts.firstIndex(where: { $0.reason == line }) {
                counts[index].count += 1
            } else {
                counts.append((line, 1))
            }
        }
        return counts.map { "\($0.count) of \(engines) engines: \($0.reason)" }
    }
}
