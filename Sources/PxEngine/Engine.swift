import PxPlatform
import PxPython
import PxPythonPackage
import PxTransport
import PxWire

#if canImport(Glibc)
import Glibc
#endif

/// An engine process: one embedded CPython with one namespace, serving tasks from the controller.
///
/// One thread does everything: it starts Python, reads the socket (releasing the GIL while it waits,
/// so background Python threads keep running) and runs tasks. Its stdout and stderr are pipes that
/// the controller reads, so output needs no thread here and survives a crash. SIGINT from the
/// controller raises KeyboardInterrupt in user code.
public enum Engine {
    /// Runs the engine until the controller goes away. Never returns.
    public static func run(_ options: EngineOptions) -> Never {
        if let connection = options.connection {
            // Its large buffers travel inline: the controller's shared memory may be on another host.
            unsetenv("PXSH_SHARED_MEMORY_DIR")
            if options.forkedRanks.count > 1 { HostZygote.run(options, connection: connection) }
            RemoteEngine.run(options, connection: connection)
        }
        // An engine must not outlive its controller, even one killed with SIGKILL.
        guard Signals.dieWithParent(signal: SIGKILL) else { exit(0) }
        if options.isZygote { Zygote.run(options) }
        do {
            if let logPath = options.logPath { try openLog(logPath) }
            try serve(options, python: startPython(options))
            exit(0)
        } catch {
            log("engine \(options.id): \(error)")
            exit(1)
        }
    }

    // The engine's own messages go to the log (its original stderr), not to the captured fd 2.
    nonisolated(unsafe) static var logDescriptor = FileDescriptor.standardError
    /// Set in a child that user code forked (os.fork, a fork Pool): libc's fork runs the handler that
    /// ``serve(_:python:)`` registers. Checked after every task instead of a getpid system call.
    nonisolated(unsafe) static var isForkedChild = false

    static func log(_ message: String) {
        try? logDescriptor.writeAll(message + "\n")
    }

    static func openLog(_ path: String) throws {
        logDescriptor = try FileDescriptor.open(path, flags: O_WRONLY | O_CREAT | O_APPEND)
    }

    /// Python started, with the runtime module loaded but not yet bound to an engine.
    struct StartedPython {
        var python: PythonLibrary
        var runtime: PythonModule
    }

    static func startPython(_ options: EngineOptions) throws -> StartedPython {
        // A shell starts a background job (`pxsh engine … &` in a job script) with SIGINT ignored,
        // and Python installs its KeyboardInterrupt handler only over the default: without this
        // reset such an engine could never be interrupted.
        signal(SIGINT, SIG_DFL)
        let python = try PythonLibrary(path: options.libraryPath)
        try python.initialize(programName: options.programName)
        let runtime = try PythonModule(
            python: python,
            name: "_pxsh",
            source: String(decoding: PackageResources.pxsh_runtime_py, as: UTF8.self),
            filename: "<pxsh-runtime>",
            cacheDirectory: codeCacheDirectory()
        )
        return StartedPython(python: python, runtime: runtime)
    }

    /// Where the runtime's compiled code is kept between starts (the user's private runtime
    /// directory); nil if there is none.
    static func codeCacheDirectory() -> String? {
        guard let root = try? RuntimeDirectory.root() else { return nil }
        let directory = root + "/code-cache"
        return (try? RuntimeDirectory.makePrivateDirectory(directory)) != nil ? directory : nil
    }

    static func serve(_ options: EngineOptions, python started: StartedPython) throws {
        let socket = try FrameSocket.connect(to: options.socketPath)
        let send: (Frame) -> Void = { frame in
            do { try socket.send(frame) } catch { exit(0) }  // The controller is gone.
        }

        let (python, runtime) = (started.python, started.runtime)
        try runtime.function("init").call(integers: [
            Int(options.id), options.rank, options.size, options.isHome ? 1 : 0,
        ])
        if options.isHome {
            // The local namespace gets `px`, a client of this cluster (it connects on first use).
            var segments: [Bytes] = [Bytes(text: options.socketPath)]
            for module in EmbeddedPythonPackage.modules { segments += [Bytes(text: module.name), module.source] }
            if let reply = try runtime.function("install_client").call(op: 0, segments: segments),
                reply.first != Bytes(text: "ok")
            {
                log("engine home: px is not defined: " + reply.dropFirst().map(\.text).joined(separator: ": "))
            }
        }
        let handle = try runtime.function("handle")
        let releaseReplaced = try runtime.function("release_replaced")
        // Starting Python leaves freed heap behind; give it back before the engine idles.
        HeapMemory.releaseFreePages()

        // A SIGINT the controller sends names its task: one that comes after that task ended is
        // dropped, so an interrupt never hits the next task (another client's, say).
        Signals.filterInterruptsByTask()

        let hello = Hello(role: .engine, fields: [String(options.id), String(options.rank), String(getpid())])
        try socket.send(hello.frame)

        pthread_atfork(nil, nil) { Engine.isForkedChild = true }

        // However the loop ends (the controller asks, or goes away), Python ends as its own exit would:
        // atexit handlers run and open files are flushed and closed.
        defer { python.finalize() }
        var engine = TaskQueue()
        while !engine.isShuttingDown {
            if engine.isEmpty {
                guard let frame = try python.withoutGIL({ try socket.receive() }) else { return }
                guard engine.accept(frame) else { return log("engine \(options.id): unexpected \(frame.kind) frame") }
                continue
            }
            // A signal that came while idle was meant for a task that has ended or not started;
            // drop it first. From now on a signal for the next task is let through, and the
            // interrupt frame that the controller writes before it signals is read below.
            python.discardPendingSignals()
            if let upcoming = engine.upcomingID { Signals.setCurrentTask(upcoming) }
            while case .frame(let frame) = try socket.receive(timeoutMilliseconds: 0) {
                guard engine.accept(frame) else { return log("engine \(options.id): unexpected \(frame.kind) frame") }
            }
            guard !engine.isShuttingDown, let (task, isInterrupted) = engine.next() else { continue }
            if isInterrupted {
                Signals.setCurrentTask(0)
                send(interruptedReply(to: task))
            } else if run(task, handle: handle, python: python, send: send, releasing: releaseReplaced) {
                // Wait for the controller to have read this task's output; frames that come
                // meanwhile (tasks, interrupts) queue up.
                while true {
                    guard let frame = try python.withoutGIL({ try socket.receive() }) else { return }
                    if frame.kind == .outputRead { break }
                    guard engine.accept(frame) else {
                        return log("engine \(options.id): unexpected \(frame.kind) frame")
                    }
                    if engine.isShuttingDown { break }
                }
            }
        }
    }

    /// Tasks received and not yet run, and which of them were interrupted before they started.
    struct TaskQueue {
        private var tasks: [Frame] = []
        private var interrupted: Set<UInt64> = []
        /// The controller asked the engine to exit.
        private(set) var isShuttingDown = false
        /// It asked this engine alone (`%remove`), not the whole cluster.
        private(set) var isLeavingAlone = false

        var isEmpty: Bool { tasks.isEmpty }

        /// The id of the task that runs next.
        var upcomingID: UInt64? { tasks.first?.id }

        /// Takes a frame from the controller; false for one an engine never gets.
        mutating func accept(_ frame: Frame) -> Bool {
            switch frame.kind {
            case .task:
                tasks.append(frame)
            case .interrupt:
                // A task that already ran (or runs) was reached by the signal itself.
                if tasks.contains(where: { $0.id == frame.id }) { interrupted.insert(frame.id) }
            case .welcome, .outputRead:
                break
            case .shutdown:
                isShuttingDown = true
                isLeavingAlone = frame.segments.first == ShutdownScope.alone
            default:
                return false
            }
            return true
        }

        mutating func next() -> (task: Frame, isInterrupted: Bool)? {
            guard !tasks.isEmpty else { return nil }
            let task = tasks.removeFirst()
            return (task, interrupted.remove(task.id) != nil)
        }
    }

    /// The ops whose names may replace values (`release_replaced` in the runtime).
    static let replacesValues = Set([EngineOp.import, .collect, .mapValues].map(\.rawValue))

    static func interruptedReply(to task: Frame) -> Frame {
        let now = Clock.realtimeNanoseconds
        return .failedReply(
            op: task.op,
            engine: task.engine,
            task: task.id,
            timing: TaskTiming(started: now, completed: now),
            .exception(name: "KeyboardInterrupt", message: "interrupted before it started", traceback: "")
        )
    }

    /// Runs one task and sends its reply. Returns whether the reply asked the controller to
    /// confirm that it has read the task's output (see ``FrameFlags/outputPending``).
    private static func run(
        _ task: Frame,
        handle: PythonFunction,
        python: PythonLibrary,
        send: (Frame) -> Void,
        releasing releaseReplaced: PythonFunction
    )
        -> Bool
    {
        let started = Clock.realtimeNanoseconds
        Signals.setCurrentTask(task.id)
        let result =
            handle.call(op: Int(task.op), segments: task.segments)
            ?? TaskFailureReply.engineError("the engine runtime failed").segments
        Signals.setCurrentTask(0)
        // A child that user code forked (os.fork) and that did not exit comes back here: it must never
        // speak on the engine's connection or read its frames. Python flushed its output already.
        if isForkedChild { _exit(0) }
        let completed = Clock.realtimeNanoseconds
        python.discardPendingSignals()
        let failed = result.first.map { $0 != ReplyStatus.ok.segment } ?? true
        var reply = Frame(
            kind: .reply,
            op: task.op,
            flags: failed ? .failed : [],
            engine: task.engine,
            id: task.id,
            segments: [TaskTiming(started: started, completed: completed).segment] + result
        )
        // The runtime flushed Python's buffers into the pipes before returning. If some of it is
        // still unread, the controller must read it before the next task's output arrives.
        let isOutputPending = [FileDescriptor.standardOutput, .standardError].contains {
            ($0.unreadByteCount ?? 0) > 0
        }
        if isOutputPending { reply.flags.insert(.outputPending) }
        send(reply)
        // The values that the request's names replaced are freed now that the reply is on its way:
        // freeing 10**6 ints takes about 8 ms, which the reply need not wait for.
        if replacesValues.contains(task.op) { try? releaseReplaced.call(integers: []) }
        return isOutputPending
    }
}
