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
        zygote = options.launch.kind == .local && getenv("PXSH_NO_ZYGOTE") == nil ? EngineZygote() : nil
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
        var arguments = [
            "engine", "--socket", options.socketPath, "--id=\(id)", "--rank", String(rank), "--size", String(size),
            "--libpython", options.libraryPath, "--program-name", options.pythonExecutable, "--log", logPath(of: id),
        ]
        if id == -1 { arguments.append("--home") }
        let devNull = try FileDescriptor.open("/dev/null", flags: O_RDONLY)
        defer { devNull.close() }
        let stdout = try FileDescriptor.pipe()
        let stderr = try FileDescriptor.pipe()
        defer {
            stdout.write.close()
            stderr.write.close()
        }
        do {
            let request = ForkRequest(id: id, rank: rank, size: size, isHome: id == -1, logPath: logPath(of: id))
            let forked = zygote?.fork(request, output: stdout.write, errorOutput: stderr.write, start: startZygote)
            let pid =
                try forked
                ?? ProcessSpawner.spawn(
                    executable,
                    arguments: arguments,
                    output: stdout.write,
                    errorOutput: stderr.write,
                    standardInput: devNull
                )
            try stdout.read.setNonBlocking(true)
            try stderr.read.setNonBlocking(true)
            return Launched(pid: pid, outputs: [(.stdout, stdout.read), (.stderr, stderr.read)])
        } catch {
            stdout.read.close()
            stderr.read.close()
            throw error
        }
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
