import PxPlatform
import PxWire

#if canImport(Glibc)
import Glibc
#endif

/// The zygote: a process that starts Python and loads the runtime once, then forks each local engine
/// from that state, so an engine is up in about a millisecond instead of starting Python itself,
/// and the engines share the pages Python's start made.
///
/// The controller asks over the socket that is the zygote's fd 0, one ``ForkRequest`` at a time,
/// with the engine's stdout and stderr pipes attached. Each engine is forked through a middle
/// process, so the controller (a subreaper) adopts it: the controller signals and reaps its engines
/// as before, and an engine dies with the controller, not with the zygote. The zygote runs no user
/// code and exits when the controller closes the socket, or dies with it.
public enum Zygote {
    /// Forks the zygote from this process, the controller at its start: Python then starts at once,
    /// while the controller sets itself up, rather than after a second start of the pxsh binary.
    ///
    /// - Parameter options: the zygote's (``EngineOptions/isZygote``, and its log).
    /// - Returns: the zygote's pid and the controller's end of its socket.
    public static func fork(_ options: EngineOptions) throws -> (pid: pid_t, control: FileDescriptor) {
        let (control, zygoteEnd) = try FileDescriptor.socketPair()
        defer { zygoteEnd.close() }
        do {
            let log = try FileDescriptor.open(options.logPath ?? "/dev/null", flags: O_WRONLY | O_CREAT | O_APPEND)
            defer { log.close() }
            guard let pid = try ProcessSpawner.fork(standardInput: zygoteEnd, output: log, errorOutput: log) else {
                signal(SIGPIPE, SIG_IGN)  // As pxsh's main does in every process it starts.
                ProcessSpawner.setCommandLine(
                    [CommandLine.arguments[0], "engine", "--zygote", "--socket", options.socketPath]
                )
                Engine.run(options)
            }
            return (pid, control)
        } catch {
            control.close()
            throw error
        }
    }

    static func run(_ options: EngineOptions) -> Never {
        let control = FileDescriptor.standardInput
        let controllerPID = getppid()
        let started: Engine.StartedPython
        do {
            if let logPath = options.logPath { try Engine.openLog(logPath) }
            started = try startPythonToFork(options)
        } catch {
            Engine.log("zygote: \(error)")
            exit(1)
        }
        while true {
            let message: (bytes: [UInt8], descriptors: [FileDescriptor])
            do { message = try control.receive(maximumCount: 1 << 12) } catch { exit(0) }
            if message.bytes.isEmpty { exit(0) }  // The controller is gone.
            defer { for descriptor in message.descriptors { descriptor.close() } }
            guard let request = ForkRequest(bytes: message.bytes), message.descriptors.count == 2 else {
                Engine.log("zygote: a malformed request")
                exit(1)
            }
            let reply: ForkReply
            do {
                let forked = try started.python.forking {
                    try ProcessSpawner.forkHandedOver(
                        output: message.descriptors[0],
                        errorOutput: message.descriptors[1],
                        // In a session of its own, the user's terminal is not the home engine's
                        // controlling terminal, so `input()` may read it (see pxsh_runtime's
                        // _TerminalInput) without being stopped as a background reader.
                        newSession: request.isHome
                    )
                }
                guard let pid = forked else {
                    becomeEngine(request, options: options, started, controller: controllerPID)
                }
                reply = .forked(pid: pid)
            } catch let error as SystemError {
                reply = .failed(errno: error.code)
            } catch {
                reply = .failed(errno: EIO)
            }
            do { try control.send(reply.bytes) } catch { exit(0) }
        }
    }

    /// Starts Python and loads the runtime once, for engines forked from this process (this zygote's, or
    /// those of `pxsh engine -n K`, see ``HostZygote``).
    static func startPythonToFork(_ options: EngineOptions) throws -> Engine.StartedPython {
        let started = try Engine.startPython(options)
        // The objects Python's start made stay out of the collector's reach, so that collections in
        // the engines (and their Python's finalization) leave those pages shared and unwritten.
        do { try started.runtime.function("freeze").call(integers: []) } catch { Engine.log("zygote: \(error)") }
        // What Python's start freed is given back once, not in every engine.
        HeapMemory.releaseFreePages()
        return started
    }

    /// In a forked engine: it dies with `parent` (the controller, or `pxsh engine -n K`), and exits at
    /// once if that already ended.
    static func dieWithParent(_ parent: pid_t) {
        guard Signals.dieWithParent(signal: SIGKILL), getppid() == parent else { _exit(0) }
    }

    /// In the forked process: from here on it is engine `request.id`, as if it had been started alone.
    private static func becomeEngine(
        _ request: ForkRequest,
        options: EngineOptions,
        _ started: Engine.StartedPython,
        controller: pid_t
    ) -> Never {
        // Its parent is now the controller; if that already ended, so does the engine.
        dieWithParent(controller)
        if Engine.logDescriptor != .standardError { Engine.logDescriptor.close() }
        Engine.logDescriptor = .standardError
        ProcessSpawner.setCommandLine(
            [CommandLine.arguments[0], "engine", "--id=\(request.id)", "--rank", String(request.rank)]
                + ["--size", String(request.size)] + (request.isHome ? ["--home"] : [])
                + ["--socket", options.socketPath]
        )
        var engine = options
        engine.isZygote = false
        engine.id = request.id
        engine.rank = request.rank
        engine.size = request.size
        engine.isHome = request.isHome
        engine.logPath = request.logPath
        do {
            try Engine.openLog(request.logPath)
            try Engine.serve(engine, python: started)
            exit(0)
        } catch {
            Engine.log("engine \(engine.id): \(error)")
            exit(1)
        }
    }
}
