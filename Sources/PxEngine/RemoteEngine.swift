import CPxSys
import PxPlatform
import PxPython
import PxSecurity
import PxTransport
import PxWire
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An engine that joins a cluster over TCP (`pxsh engine --connection-file`): started by a
/// launcher or by hand, on any host that reaches the controller.
///
/// Three threads share its one authenticated connection:
/// - the Python thread runs tasks, as a local engine does, and reads the connection itself while it
///   waits for one (GIL released), so that a task wakes one thread only;
/// - the link thread beats once a second, busy or not, ends the process when the controller is gone
///   (connection closed, or 10 s without a heartbeat), and reads the connection while a task runs
///   (within 250 ms of its start), turning interrupt frames into SIGINT for the Python thread;
/// - the output thread forwards what the engine writes to its fds 1 and 2 (pipes) as `stream`
///   frames, live. Before each reply the Python thread empties the pipes under the same lock, so a
///   task's output always reaches the client before its result.
enum RemoteEngine {
    /// The controller silent for this long is gone; it beats every second.
    static let controllerTimeout: UInt64 = 10_000_000_000

    /// Joins and serves until the controller is gone.
    ///
    /// - Parameter python: Python already started (``HostZygote`` forked this engine); nil to start it
    ///   here once the engine has joined.
    static func run(_ options: EngineOptions, connection: ConnectionFile, python: Engine.StartedPython? = nil) -> Never
    {
        let endpoint = "\(connection.address):\(connection.port)"
        do {
            if let logPath = options.logPath {
                Engine.logDescriptor = try FileDescriptor.open(logPath, flags: O_WRONLY | O_CREAT | O_APPEND)
            } else {
                // fd 2 becomes a pipe to the client; the engine's own messages keep the original stderr.
                Engine.logDescriptor = try FileDescriptor.standardError.duplicate()
            }
        } catch {
            fail("cannot open the log: \(error)")
        }
        let socket: FrameSocket
        do {
            socket = FrameSocket(try TCPSocket.connect(address: connection.address, port: connection.port))
        } catch {
            fail("cannot reach the controller at \(endpoint): \(error)")
        }
        do {
            try socket.authenticate(key: connection.key, cluster: connection.cluster)
        } catch {
            fail("the controller at \(endpoint) refused this engine or could not prove the cluster's key: \(error)")
        }
        let (id, rank, size): (Int32, Int, Int)
        do {
            (id, rank, size) = try register(socket, options: options)
        } catch {
            fail("the controller at \(endpoint) did not register this engine: \(error)")
        }
        do {
            try serve(socket, id: id, rank: rank, size: size, options: options, python: python)
        } catch {
            fail("engine \(id): \(error)")
        }
    }

    /// Says hello and reads the id, rank and size the controller gives.
    private static func register(_ socket: FrameSocket, options: EngineOptions) throws -> (Int32, Int, Int) {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count - 1)
        let hostname = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let hello = Hello(
            role: .engine,
            fields: [
                "remote", options.rank >= 0 ? String(options.rank) : "", options.size > 0 ? String(options.size) : "",
                String(getpid()), hostname, options.isRankFromLauncher ? "launcher" : "",
            ]
        )
        try socket.send(hello.frame)
        while true {
            switch try socket.receive(timeoutMilliseconds: 30_000) {
            case .frame(let frame) where frame.kind == .welcome:
                guard frame.segments.count == 3, let id = Int32(frame.segments[0].text),
                    let rank = Int(frame.segments[1].text), let size = Int(frame.segments[2].text)
                else { throw KeyExchangeError.malformed("bad welcome") }
                return (id, rank, size)
            case .frame(let frame) where frame.kind == .refused:
                throw KeyExchangeError.refused(frame.segments.first?.text ?? "")
            case .frame:
                continue  // heartbeats
            case .closed:
                throw KeyExchangeError.refused("the connection closed")
            case .timedOut, .woken:
                throw KeyExchangeError.refused("no welcome within 30 s")
            }
        }
    }

    private static func serve(
        _ socket: FrameSocket,
        id: Int32,
        rank: Int,
        size: Int,
        options: EngineOptions,
        python given: Engine.StartedPython?
    ) throws -> Never {
        let output = try OutputForwarder(socket: socket, engine: id)
        // Python can take longer to start than the controller waits for a heartbeat (a slow file
        // system, a loaded host): the link thread reads and beats meanwhile.
        let link = try Link(socket: socket, pythonThread: Signals.currentThread, engine: id)
        if given == nil { link.releaseReadingWhilePythonStarts() }
        BackgroundThread.start { link.run() }
        let started = try given ?? Engine.startPython(options)
        let (python, runtime) = (started.python, started.runtime)
        output.reportCrashes()
        try runtime.function("init").call(integers: [Int(id), rank, size, 0])
        let handle = try runtime.function("handle")
        let mpiIsActive = try runtime.function("mpi_is_active")
        HeapMemory.releaseFreePages()

        link.pythonHasStarted()
        // A client's interrupt names its task, so that it never hits the next one; a signal at this
        // host ends the engine as the controller's request does (see ``Link/leaveIfAsked()``).
        Signals.filterInterruptsByTask()
        Signals.leaveOnSignals(wakingPython: link.leaveWake.write, link: link.wakeLink.write)
        BackgroundThread.start { output.run() }
        try socket.send(Frame(kind: .ready, engine: id))
        Engine.log(
            "engine \(id) (rank \(rank)) joined the controller at \(TCPSocket.peerAddress(of: socket.descriptor))"
        )

        var queue = Engine.TaskQueue()
        while !queue.isShuttingDown && Signals.leaveSignal == nil {
            if !link.tryTakeReading() { python.withoutGIL { link.takeReadingBack() } }
            var frames = link.takeFramesReadForTheLastTask()
            if queue.isEmpty && frames.isEmpty {
                guard let frame = python.withoutGIL({ link.receiveWhileIdle() }) else { break }
                frames = [frame]
            } else {
                // Tasks wait: what has arrived meanwhile (an interrupt for one of them) comes first.
                frames += link.receiveArrived()
            }
            for frame in frames where !queue.accept(frame) {
                Engine.log("engine \(id): unexpected \(frame.kind) frame")
                _exit(1)
            }
            python.discardPendingSignals()
            guard !queue.isShuttingDown, Signals.leaveSignal == nil, let (task, isInterrupted) = queue.next() else {
                continue
            }
            // The signal filter knows the task before the link thread may signal for it: an interrupt
            // sent as the task starts is then raised in it, not dropped.
            Signals.setCurrentTask(task.id)
            link.running.store(task.id, ordering: .releasing)
            link.releaseReading()
            output.begin(task.id)
            var reply: Frame
            if isInterrupted {
                Signals.setCurrentTask(0)
                reply = Engine.interruptedReply(to: task)
            } else {
                let started = Clock.realtimeNanoseconds
                let result =
                    handle.call(op: Int(task.op), segments: task.segments)
                    ?? TaskFailureReply.engineError("the engine runtime failed").segments
                Signals.setCurrentTask(0)
                let completed = Clock.realtimeNanoseconds
                python.discardPendingSignals()
                let failed = result.first.map { $0 != ReplyStatus.ok.segment } ?? true
                reply = Frame(
                    kind: .reply,
                    op: task.op,
                    flags: failed ? .failed : [],
                    engine: task.engine,
                    id: task.id,
                    segments: [TaskTiming(started: started, completed: completed).segment] + result
                )
            }
            link.running.store(0, ordering: .releasing)
            output.finish(with: reply)
        }
        // The controller asked the engine to exit: Python ends as its own exit would (atexit
        // handlers run, open files are flushed and closed, and mpi4py's MPI_Finalize comes last),
        // and what it printed meanwhile is sent. MPI_Finalize waits for the job's other ranks: when
        // the whole cluster stops they reach it too, and the exit is bounded in case one does not.
        // A rank removed alone must not leave before them (mpiexec would end the whole job): it
        // tells the controller, which keeps its connection until the cluster stops, and waits.
        if let signal = Signals.leaveSignal {
            // Asked at this host: the controller hears why, before the connection closes.
            let name = Signals.label(of: signal)
            Engine.log("engine \(id): leaving on \(name)")
            output.finish(with: Frame(kind: .leaving, engine: id, segments: [Bytes(text: "it left on \(name)")]))
            link.beginExit(within: exitBound, after: name)
        } else if queue.isLeavingAlone && mpiIsActive.call(op: 0, segments: [])?.first == Bytes(text: "1") {
            Engine.log("engine \(id): removed; MPI_Finalize waits for the MPI job's other ranks, which end together")
            output.finish(with: Frame(kind: .shutdown, engine: id))
        } else {
            link.beginExit(within: exitBound, after: "the controller's request")
        }
        // The link thread reads from now on: it sees the connection close while Python ends.
        link.releaseReadingForGood()
        python.finalize()
        fflush(nil)
        output.finish(with: nil)
        // Not exit(): the link and output threads still run, and C-level exit handlers (MPICH's
        // among them) have nothing left to do for a finalized Python.
        _exit(0)
    }

    /// How long Python may take to end once the controller asked (atexit handlers, MPI_Finalize).
    /// The controller closes the connection after its own 2 s grace; this bounds the exit when it
    /// cannot (a stopped controller).
    static let exitBound: UInt64 = 5_000_000_000

    /// Where an engine forked by ``HostZygote`` reports why it failed, for its parent to say once for
    /// all of them; nil for an engine started alone.
    nonisolated(unsafe) static var failureReport: FileDescriptor?

    /// Ends the engine with a one-line reason on its stderr (or log), or to its ``failureReport``, and
    /// status 1.
    static func fail(_ reason: String) -> Never {
        if let failureReport {
            try? failureReport.writeAll(reason + "\n")
        } else {
            Engine.log("pxsh engine: \(reason)")
        }
        exit(1)
    }

    /// Ends the process at once from any thread, without running Python's exit handlers on a
    /// thread that does not hold the GIL.
    static func leave(_ reason: String, status: Int32) -> Never {
        Engine.log("pxsh engine: \(reason)")
        _exit(status)
    }
}

// MARK: - The link thread

/// Beats, notices when the controller is gone, and reads the connection while a task runs.
///
/// One thread at a time reads the connection (its decoder is not shared): the Python thread while
/// it waits for tasks, the link thread while a task runs or Python ends. The Python thread lets go
/// when a task starts; the link thread picks the connection up at its next turn (every 250 ms) and
/// hands it back when asked, so a short task usually ends before any hand-over.
final class Link: Sendable {
    let socket: FrameSocket
    let pythonThread: pthread_t
    let engine: Int32
    /// The task the Python thread runs; 0 when none.
    let running = Atomic<UInt64>(0)
    /// When the process leaves whatever Python is doing (monotonic); 0 while it serves tasks.
    private let exitDeadline = Atomic<UInt64>(0)
    /// What asked the process to end, for the message if Python does not end in time.
    private let exitCause = Mutex<String>("")
    /// A signal at this host asked the engine to leave, and the running task was interrupted.
    private let hasInterruptedToLeave = Atomic<Bool>(false)
    /// When a frame last came from the controller (monotonic), whichever thread read it.
    private let lastHeard = Atomic<UInt64>(Clock.monotonicNanoseconds)
    /// Who reads the connection: a ``Reader``.
    private let reader = Atomic<UInt8>(Reader.python.rawValue)
    /// The Python thread wants the connection back.
    private let isHandBackRequested = Atomic<Bool>(false)
    /// Where Python is in its life: a ``PythonPhase``.
    private let phase = Atomic<UInt8>(PythonPhase.serving.rawValue)
    /// Frames the link thread read for the Python thread.
    private let frames = Mutex<[Frame]>([])
    /// Wakes the link thread (a hand-back is asked, or a signal came) and the Python thread (it is
    /// done; ``leaveWake``: a signal asks the engine to leave).
    let wakeLink: (read: FileDescriptor, write: FileDescriptor)
    private let wakePython: (read: FileDescriptor, write: FileDescriptor)
    let leaveWake: (read: FileDescriptor, write: FileDescriptor)

    private enum Reader: UInt8 {
        case nobody, python, link
    }

    /// When the link thread may pick up the connection: only while a task runs once Python serves
    /// tasks, but all along while it starts (until the Python thread first waits for tasks) and
    /// from when it ends, for good.
    private enum PythonPhase: UInt8 {
        case starting, serving, ending
    }

    init(socket: FrameSocket, pythonThread: pthread_t, engine: Int32) throws {
        self.socket = socket
        self.pythonThread = pythonThread
        self.engine = engine
        wakeLink = try FileDescriptor.pipe()
        wakePython = try FileDescriptor.pipe()
        leaveWake = try FileDescriptor.pipe()
        for pipe in [wakeLink, wakePython, leaveWake] {
            try pipe.read.setNonBlocking(true)
            // Written to by a signal handler: it must never block.
            try pipe.write.setNonBlocking(true)
        }
    }

    /// Bounds the Python thread's exit, asked by `cause`: past `nanoseconds`, the process leaves
    /// without it. The first bound holds.
    func beginExit(within nanoseconds: UInt64, after cause: String) {
        exitCause.withLock { $0 = $0.isEmpty ? cause : $0 }
        _ = exitDeadline.compareExchange(
            expected: 0,
            desired: Clock.monotonicNanoseconds + nanoseconds,
            ordering: .acquiringAndReleasing
        )
    }

    /// On the link thread: once a signal at this host asked the engine to leave, interrupts the
    /// running task (the Python thread then leaves, see ``RemoteEngine``) and bounds the exit.
    private func leaveIfAsked() {
        guard let signal = Signals.leaveSignal, !hasInterruptedToLeave.exchange(true, ordering: .acquiringAndReleasing)
        else { return }
        let task = running.load(ordering: .acquiring)
        if task != 0 { Signals.interrupt(task: task, thread: pythonThread) }
        beginExit(within: RemoteEngine.exitBound, after: Signals.label(of: signal))
    }

    // MARK: The Python thread's side

    /// Lets the link thread read while the task in ``running`` runs.
    func releaseReading() {
        reader.store(Reader.nobody.rawValue, ordering: .releasing)
    }

    /// Lets the link thread read while Python starts (see ``pythonHasStarted()``).
    func releaseReadingWhilePythonStarts() {
        phase.store(PythonPhase.starting.rawValue, ordering: .releasing)
        reader.store(Reader.nobody.rawValue, ordering: .releasing)
    }

    /// Python is up: the Python thread takes the connection back when it first waits for tasks.
    func pythonHasStarted() {
        phase.compareExchange(
            expected: PythonPhase.starting.rawValue,
            desired: PythonPhase.serving.rawValue,
            ordering: .acquiringAndReleasing
        )
    }

    /// Lets the link thread read from now on (Python ends).
    func releaseReadingForGood() {
        phase.store(PythonPhase.ending.rawValue, ordering: .releasing)
        reader.store(Reader.nobody.rawValue, ordering: .releasing)
    }

    /// Takes the connection back if nobody reads it; false if the link thread does.
    func tryTakeReading() -> Bool {
        if reader.load(ordering: .acquiring) == Reader.python.rawValue { return true }
        return reader.compareExchange(
            expected: Reader.nobody.rawValue,
            desired: Reader.python.rawValue,
            ordering: .acquiringAndReleasing
        ).exchanged
    }

    /// Asks the link thread for the connection and waits until it has let go.
    func takeReadingBack() {
        isHandBackRequested.store(true, ordering: .releasing)
        Link.wake(wakeLink.write)
        while !tryTakeReading() {
            _ = try? Poll.wait([(wakePython.read, .readable)], timeoutMilliseconds: -1)
            Link.drain(wakePython.read)
        }
    }

    /// The frames the link thread read while the last task ran.
    func takeFramesReadForTheLastTask() -> [Frame] {
        frames.withLock { frames in
            defer { frames = [] }
            return frames
        }
    }

    /// Reads the next frame that is not a heartbeat, on the Python thread (which holds the
    /// connection); nil when a signal asks the engine to leave.
    func receiveWhileIdle() -> Frame? {
        while true {
            do {
                switch try socket.receive(timeoutMilliseconds: -1, wakingOn: leaveWake.read) {
                case .frame(let frame):
                    lastHeard.store(Clock.monotonicNanoseconds, ordering: .releasing)
                    if frame.kind != .heartbeat { return frame }
                case .closed:
                    RemoteEngine.leave("engine \(engine): the controller closed the connection", status: 0)
                case .woken:
                    if Signals.leaveSignal != nil { return nil }
                    Link.drain(leaveWake.read)
                case .timedOut:
                    continue
                }
            } catch {
                leave(after: error)
            }
        }
    }

    /// The frames that have arrived, without waiting (the Python thread holds the connection).
    func receiveArrived() -> [Frame] {
        var arrived: [Frame] = []
        do {
            while case .frame(let frame) = try socket.receive(timeoutMilliseconds: 0) {
                lastHeard.store(Clock.monotonicNanoseconds, ordering: .releasing)
                if frame.kind != .heartbeat { arrived.append(frame) }
            }
        } catch {
            leave(after: error)
        }
        return arrived
    }

    // MARK: The link thread's side

    func run() -> Never {
        var lastSent: UInt64 = 0
        while true {
            do {
                // It picks the connection up only while a task runs (or Python starts or ends): having handed it
                // back after a task, it must not take it again before the Python thread does.
                let mayRead =
                    running.load(ordering: .acquiring) != 0
                    || phase.load(ordering: .acquiring) != PythonPhase.serving.rawValue
                let isReading =
                    reader.load(ordering: .acquiring) == Reader.link.rawValue
                    || mayRead
                        && reader.compareExchange(
                            expected: Reader.nobody.rawValue,
                            desired: Reader.link.rawValue,
                            ordering: .acquiringAndReleasing
                        ).exchanged
                if isReading {
                    try readForTheRunningTask()
                    if isHandBackRequested.exchange(false, ordering: .acquiringAndReleasing) {
                        reader.store(Reader.nobody.rawValue, ordering: .releasing)
                        Link.wake(wakePython.write)
                    }
                } else {
                    _ = try? Poll.wait([(wakeLink.read, .readable)], timeoutMilliseconds: 250)
                    Link.drain(wakeLink.read)
                }
                leaveIfAsked()
                let now = Clock.monotonicNanoseconds
                let deadline = exitDeadline.load(ordering: .acquiring)
                if deadline != 0 && now > deadline {
                    RemoteEngine.leave(
                        "engine \(engine): Python did not end within \(RemoteEngine.exitBound / 1_000_000_000) s of "
                            + "\(exitCause.withLock { $0 }) (a task that ignores KeyboardInterrupt, an atexit handler, "
                            + "or MPI_Finalize waiting for other ranks)",
                        status: 1
                    )
                }
                let heard = lastHeard.load(ordering: .acquiring)
                if now > heard && now - heard > RemoteEngine.controllerTimeout {
                    RemoteEngine.leave(
                        "engine \(engine): no heartbeat from the controller for \(RemoteEngine.controllerTimeout / 1_000_000_000) s",
                        status: 1
                    )
                }
                if now - lastSent >= 1_000_000_000 {
                    try socket.send(Frame(kind: .heartbeat, engine: engine))
                    lastSent = now
                }
            } catch {
                leave(after: error)
            }
        }
    }

    /// Waits up to 250 ms for a frame (or a hand-back request) and passes it on.
    private func readForTheRunningTask() throws {
        switch try socket.receive(timeoutMilliseconds: 250, wakingOn: wakeLink.read) {
        case .frame(let frame):
            lastHeard.store(Clock.monotonicNanoseconds, ordering: .releasing)
            guard frame.kind != .heartbeat else { return }
            frames.withLock { $0.append(frame) }
            if frame.kind == .interrupt && running.load(ordering: .acquiring) == frame.id {
                Signals.interrupt(task: frame.id, thread: pythonThread)
            }
        case .closed:
            RemoteEngine.leave("engine \(engine): the controller closed the connection", status: 0)
        case .woken:
            Link.drain(wakeLink.read)
        case .timedOut:
            break
        }
    }

    private func leave(after error: any Error) -> Never {
        if let error = error as? SystemError, error.code == ECONNRESET {
            // A controller killed with frames unread resets the connection instead of closing it.
            RemoteEngine.leave("engine \(engine): the controller closed the connection (reset)", status: 0)
        }
        // A cut link ends in a failed read (TCP_USER_TIMEOUT) about when the heartbeats' own limit
        // is reached: say both.
        let silence =
            (Clock.monotonicNanoseconds - min(lastHeard.load(ordering: .acquiring), Clock.monotonicNanoseconds))
        if silence >= 5_000_000_000 {
            RemoteEngine.leave(
                "engine \(engine): no heartbeat from the controller for \(silence / 1_000_000_000) s, and the connection "
                    + "failed: \(error)",
                status: 1
            )
        }
        RemoteEngine.leave("engine \(engine): the connection to the controller failed: \(error)", status: 1)
    }

    private static func wake(_ descriptor: FileDescriptor) {
        var byte: UInt8 = 1
        _ = Glibc.write(descriptor.rawValue, &byte, 1)
    }

    private static func drain(_ descriptor: FileDescriptor) {
        var buffer = [UInt8](repeating: 0, count: 64)
        while Glibc.read(descriptor.rawValue, &buffer, buffer.count) > 0 {}
    }
}

// MARK: - The output thread

/// Makes fds 1 and 2 pipes, and forwards what comes out of them as `stream` frames of the task
/// that runs (or, after it, the one that last ran).
final class OutputForwarder: @unchecked Sendable {
    private let socket: FrameSocket
    private let engine: Int32
    private let pipes: [(stream: OutputStream, descriptor: FileDescriptor)]
    /// The task output belongs to. Held while reading and sending, so the Python thread's final
    /// read before a reply and the output thread never interleave.
    private let attribution = Mutex<UInt64>(0)
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)

    init(socket: FrameSocket, engine: Int32) throws {
        self.socket = socket
        self.engine = engine
        var pipes: [(OutputStream, FileDescriptor)] = []
        for (stream, target) in [(OutputStream.stdout, FileDescriptor.standardOutput), (.stderr, .standardError)] {
            let pipe = try FileDescriptor.pipe()
            try pipe.write.duplicate(onto: target)
            pipe.write.close()
            try pipe.read.setNonBlocking(true)
            pipes.append((stream, pipe.read))
        }
        self.pipes = pipes
    }

    func begin(_ task: UInt64) {
        attribution.withLock { $0 = task }
    }

    /// The forwarder that reports a crash of this process.
    nonisolated(unsafe) private static var reporting: OutputForwarder?

    /// On a crash (a segfault, an abort), sends what the engine wrote last, the Python stack that
    /// faulthandler writes to fd 2 (it is enabled after this), and why it died; a local engine's
    /// controller reads the same from its pipes after its death.
    func reportCrashes() {
        OutputForwarder.reporting = self
        Signals.reportCrashes { signal in
            guard let forwarder = OutputForwarder.reporting else { return }
            let cause = ProcessSpawner.Termination.signaled(signal).description
            forwarder.finish(
                with: Frame(kind: .leaving, engine: forwarder.engine, segments: [Bytes(text: "it died: \(cause)")])
            )
        }
    }

    /// Sends what is left in the pipes, then the reply if there is one.
    func finish(with reply: Frame?) {
        attribution.withLock { task in
            for (stream, descriptor) in pipes { forward(stream, descriptor, task: task) }
            guard let reply else { return }
            do { try socket.send(reply) } catch {
                RemoteEngine.leave("engine \(engine): cannot send a reply: \(error)", status: 1)
            }
        }
    }

    func run() -> Never {
        while true {
            let ready = (try? Poll.wait(pipes.map { ($0.descriptor, .readable) }, timeoutMilliseconds: -1)) ?? []
            attribution.withLock { task in
                for (index, events) in ready.enumerated() where !events.isEmpty {
                    forward(pipes[index].stream, pipes[index].descriptor, task: task)
                }
            }
        }
    }

    private func forward(_ stream: OutputStream, _ descriptor: FileDescriptor, task: UInt64) {
        while true {
            let count = Glibc.read(descriptor.rawValue, buffer.baseAddress, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            let bytes = Bytes(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            do {
                try socket.send(Frame(kind: .stream, op: stream.rawValue, engine: engine, id: task, segments: [bytes]))
            } catch {
                RemoteEngine.leave("engine \(engine): cannot send output: \(error)", status: 1)
            }
        }
    }
}

// MARK: - Threads

/// A detached thread that never runs Python and never takes SIGINT (that is for the Python thread).
enum BackgroundThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    static func start(_ body: @escaping () -> Void) {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread,
            nil,
            { raw in
                Signals.blockInterruptsOnThisThread()
                let body = Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue()
                body.run()
                return nil
            },
            context
        )
        if result == 0 { pthread_detach(thread) } else { RemoteEngine.leave("cannot start a thread", status: 1) }
    }
}
