import CPxSys
import PxPython
import PxTransport
import PxWire

#if canImport(Glibc)
    import Glibc
#endif

/// An engine process: one embedded CPython with one namespace, serving tasks from the controller.
///
/// The thread that starts Python is the only one that runs it; it also reads the socket, releasing
/// the GIL while it waits, so background Python threads keep running. Output is forwarded by
/// ``OutputCapture``'s thread. SIGINT from the controller raises KeyboardInterrupt in user code.
public enum Engine {
    /// Runs the engine until the controller goes away. Never returns.
    public static func run(_ options: EngineOptions) -> Never {
        // An engine must not outlive its controller, even one killed with SIGKILL.
        _ = pxsys_set_parent_death_signal(SIGKILL)
        if getppid() == 1 { exit(0) }
        do {
            try serve(options)
            exit(0)
        } catch {
            log("engine \(options.id): \(error)")
            exit(1)
        }
    }

    // The engine's own messages go to the log (its original stderr), not to the captured fd 2.
    nonisolated(unsafe) private static var logDescriptor = FileDescriptor.standardError

    static func log(_ message: String) {
        try? logDescriptor.writeAll(message + "\n")
    }

    private static func serve(_ options: EngineOptions) throws {
        logDescriptor = try FileDescriptor.standardError.duplicate()
        let socket = try FrameSocket.connect(to: options.socketPath)
        let send: (Frame) -> Void = { frame in
            do { try socket.send(frame) } catch { exit(0) }  // The controller is gone.
        }
        let capture = try OutputCapture(engine: options.id, send: send)
        capture.start()

        let python = try PythonLibrary(path: options.libraryPath)
        try python.initialize(programName: options.programName)
        let runtime = try PythonModule(
            python: python, name: "_pxsh", source: String(decoding: PackageResources.pxsh_runtime_py, as: UTF8.self),
            filename: "<pxsh-runtime>")
        try runtime.function("init").call(integers: [Int(options.id), options.rank, options.size, options.isHome ? 1 : 0])
        let handle = try runtime.function("handle")

        let hello = Hello(role: .engine, fields: [String(options.id), String(options.rank), String(getpid())])
        try socket.send(hello.frame)

        while true {
            guard let frame = try python.withoutGIL({ try socket.receive() }) else { return }
            switch frame.kind {
            case .task:
                run(frame, handle: handle, python: python, capture: capture, send: send)
            case .welcome:
                continue
            default:
                log("engine \(options.id): unexpected \(frame.kind) frame")
                return
            }
        }
    }

    private static func run(
        _ task: Frame, handle: PythonFunction, python: PythonLibrary, capture: OutputCapture, send: (Frame) -> Void
    ) {
        capture.beginTask(task.id)
        python.discardPendingSignals()
        let started = Clock.realtimeNanoseconds
        let result =
            handle.call(op: Int(task.op), segments: task.segments)
            ?? [Bytes(text: "error"), Bytes(text: "InternalError"), Bytes(text: "the engine runtime failed"), []]
        let completed = Clock.realtimeNanoseconds
        python.discardPendingSignals()
        let failed = result.first.map { $0 != Bytes(text: "ok") } ?? true
        let reply = Frame(
            kind: .reply, op: task.op, flags: failed ? .failed : [], engine: task.engine, id: task.id,
            segments: [TaskTiming(started: started, completed: completed).segment] + result)
        capture.finishTask { send(reply) }
    }
}
