import PxPlatform
import PxWire

#if canImport(Glibc)
import Glibc
#endif

/// Starts engine processes on this machine and stops them.
///
/// Each engine is a `pxsh engine` child in a process group of its own, so that signals aimed at it
/// (interrupts, kills) also reach what it started, and never the terminal's foreground group.
struct EngineLauncher {
    let options: ControllerOptions
    let executable = ProcessSpawner.currentExecutable
    /// Forks local engines from a started Python; nil where engines are always spawned.
    let zygote: EngineZygote?

    init(options: ControllerOptions) {
        self.options = options
        zygote = options.usesZygote ? EngineZygote() : nil
    }

    func logPath(of engine: Int32) -> String {
        options.layout.engineLogPath(engine)
    }

    /// A started engine: its pid, and the read ends of the pipes that are its stdout and stderr.
    struct Launched {
        var pid: pid_t
        var outputs: [(stream: OutputStream, descriptor: FileDescriptor)]
    }

    /// Starts engine `id` with `rank`.
    ///
    /// Its fds 1 and 2 are pipes that the controller reads: everything the engine's code writes
    /// (Python, C extensions, child processes, a crash report) reaches the client, even output
    /// written just before the engine dies. The engine's own messages go to its log file.
    func launch(id: Int32, rank: Int, size: Int) throws -> Launched {
        try launch([(id, rank, size)])[0].get()
    }

    /// Starts several engines; the zygote gets every request before the first answer is awaited.
    func launch(_ engines: [(id: Int32, rank: Int, size: Int)]) -> [Result<Launched, any Error>] {
        var pipes: [Result<(stdout: Pipe, stderr: Pipe), any Error>] = engines.map { _ in
            Result { (try FileDescriptor.pipe(), try FileDescriptor.pipe()) }
        }
        let requests = zip(engines, pipes).compactMap { engine, pipe in
            (try? pipe.get()).map { pipe in
                (
                    ForkRequest(
                        id: engine.id,
                        rank: engine.rank,
                        size: engine.size,
                        isHome: engine.id == EngineNumber.home,
                        logPath: logPath(of: engine.id)
                    ),
                    pipe.stdout.write,
                    pipe.stderr.write
                )
            }
        }
        var forked = zygote?.fork(requests, start: startZygote) ?? []
        forked.reverse()
        var results: [Result<Launched, any Error>] = []
        for (index, engine) in engines.enumerated() {
            let pipe: (stdout: Pipe, stderr: Pipe)
            do { pipe = try pipes[index].get() } catch {
                results.append(.failure(error))
                continue
            }
            let pid = forked.popLast() ?? nil
            if pid == nil && ShutdownSignal.isRequested {
                for end in [pipe.stdout.write, pipe.stdout.read, pipe.stderr.write, pipe.stderr.read] { end.close() }
                results.append(.failure(ShuttingDown()))
                continue
            }
            results.append(
                Result {
                    defer {
                        pipe.stdout.write.close()
                        pipe.stderr.write.close()
                    }
                    do {
                        let pid = try pid ?? spawn(engine, output: pipe.stdout.write, errorOutput: pipe.stderr.write)
                        try pipe.stdout.read.setNonBlocking(true)
                        try pipe.stderr.read.setNonBlocking(true)
                        return Launched(pid: pid, outputs: [(.stdout, pipe.stdout.read), (.stderr, pipe.stderr.read)])
                    } catch {
                        pipe.stdout.read.close()
                        pipe.stderr.read.close()
                        throw error
                    }
                }
            )
        }
        pipes = []
        return results
    }

    typealias Pipe = (read: FileDescriptor, write: FileDescriptor)

    /// Spawns an engine that starts Python itself.
    private func spawn(
        _ engine: (id: Int32, rank: Int, size: Int),
        output: FileDescriptor,
        errorOutput: FileDescriptor
    ) throws -> pid_t {
        var arguments = [
            "engine", "--socket", options.socketPath, "--id=\(engine.id)", "--rank", String(engine.rank),
            "--size", String(engine.size), "--libpython", options.libraryPath,
            "--program-name", options.pythonExecutable, "--log", logPath(of: engine.id),
        ]
        if engine.id == EngineNumber.home { arguments.append("--home") }
        let devNull = try FileDescriptor.open("/dev/null", flags: O_RDONLY)
        defer { devNull.close() }
        return try ProcessSpawner.spawn(
            executable,
            arguments: arguments,
            output: output,
            errorOutput: errorOutput,
            standardInput: devNull,
            newSession: engine.id == EngineNumber.home  // so that input() may read the terminal (see Zygote)
        )
    }

    /// Starts the zygote, with one end of a socket pair as its fd 0 and its log as fd 2.
    private func startZygote() throws -> (pid: pid_t, control: FileDescriptor) {
        let (control, zygoteEnd) = try FileDescriptor.socketPair()
        defer { zygoteEnd.close() }
        let logPath = options.layout.zygoteLogPath
        let log = try FileDescriptor.open(logPath, flags: O_WRONLY | O_CREAT | O_APPEND)
        defer { log.close() }
        let arguments = [
            "engine", "--zygote", "--socket", options.socketPath, "--libpython", options.libraryPath,
            "--program-name", options.pythonExecutable, "--log", logPath,
        ]
        do {
            let pid = try ProcessSpawner.spawn(
                executable,
                arguments: arguments,
                output: log,
                errorOutput: log,
                standardInput: zygoteEnd
            )
            return (pid, control)
        } catch {
            control.close()
            throw error
        }
    }

    /// Sends `signal` to the engine and everything it started.
    func signal(_ pid: pid_t, _ signal: Int32) {
        Signals.sendToGroup(signal, leader: pid)
    }

    /// The last lines of an engine's log, to explain why it died.
    func logTail(of engine: Int32, lines: Int = 3) -> String {
        FileDescriptor.lastLines(ofFile: logPath(of: engine), count: lines)
    }
}

/// An engine not started because the controller is shutting down.
struct ShuttingDown: Error, CustomStringConvertible {
    var description: String { "not started: the controller is shutting down" }
}
