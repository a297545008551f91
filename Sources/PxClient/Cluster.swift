import PxPlatform
import PxTransport
import PxWire

#if canImport(Glibc)
import Glibc
#endif

/// Where a controller accepts engines over TCP.
public struct TCPEndpoint: Sendable, Equatable {
    /// An address of this host (IPv4 or IPv6) or a host name; the loopback address by default.
    public var address: String
    /// 0 picks a free port.
    public var port: Int
    /// The address engines connect to, written in the connection file; nil: ``address``, or for
    /// `0.0.0.0` and `::` the address of the interface of this host's default route.
    public var location: String?

    public init(address: String = "127.0.0.1", port: Int = 0, location: String? = nil) {
        self.address = address
        self.port = port
        self.location = location
    }
}

/// A connection to a pxsh cluster: its controller, its engines and the home engine.
///
/// ``start(engines:python:)`` starts a private cluster that ends with this object (or this process,
/// even if it is killed); ``attach(name:)`` joins a named one. All calls are made on one thread; frames
/// are read only while a call waits, so nothing runs behind the caller's back.
public final class Cluster {
    /// A cluster event as the user should see it, e.g. "engine 2 (rank 2) died: signal 9 (SIGKILL)".
    public var onEvent: ((ClusterEvent) -> Void)?
    /// A descriptor that, when readable, cuts blocking waits short with ``ClusterError/interrupted``
    /// (the REPL's Ctrl-C self-pipe).
    public var interruptDescriptor: FileDescriptor?
    /// Called when ``interruptDescriptor`` cuts a wait of ``finish(_:)`` short: it should interrupt the
    /// result (see ``interrupt(_:)``) and wait for its tasks to end. Without it, the wait just ends.
    public var onInterrupt: ((AsyncResult) throws -> Void)?
    /// When a wait for a reply the user asked for polls before it sleeps (see ``pollBriefly(seconds:interrupt:)``).
    public var spinPolicy = SpinPolicy()
    /// The engines by id, as the controller's welcome and events last described them (the home
    /// engine too). ``engines()`` asks the controller afresh.
    public private(set) var knownEngines: [Int32: EngineStatus] = [:]
    /// The named cluster's name; nil for a private cluster.
    public let name: String?
    /// The cluster's directory: its socket, logs and (for a named cluster) description.
    public var directory: String { layout.directory }
    let layout: ClusterLayout
    /// The python executable the engines run.
    public let pythonExecutable: String

    let socket: FrameSocket
    private let controllerPID: pid_t?
    /// The named cluster's controller, as its description said when this client connected: to tell,
    /// once the connection ends, a cluster that was stopped from a controller that is gone.
    private let namedControllerPID: pid_t?
    private var nextRequestID: UInt64 = 1
    private var resultNumber = 0
    /// Submitted requests waiting for their task ids.
    private var awaitingAcceptance: [UInt64: AsyncResult] = [:]
    /// Unfinished tasks by id.
    private var taskIndex: [UInt64: (result: AsyncResult, index: Int)] = [:]
    /// Calls whose value the home engine is storing, by the call's task id (``FrameFlags/storedAtHome``).
    private var awaitingStore: [UInt64: AsyncResult] = [:]
    private var controlReplies: [UInt64: [Bytes]] = [:]
    /// Control requests whose caller stopped waiting (interrupted): their replies are dropped when they come.
    private var abandonedControlRequests: Set<UInt64> = []
    private var isClosed = false
    private var isControllerEnded = false
    private var closeReason: String?

    private init(socket: FrameSocket, controllerPID: pid_t?, name: String?, layout: ClusterLayout, welcome: Frame) {
        self.socket = socket
        self.controllerPID = controllerPID
        self.name = name
        self.layout = layout
        self.namedControllerPID = name == nil ? nil : controllerPID ?? (try? layout.readDescription().pid)
        self.pythonExecutable = welcome.segments.count > 2 ? welcome.segments[2].text : ""
        for segment in welcome.segments.dropFirst(3) {
            if let row = EngineStatus(line: segment.text) { knownEngines[row.id] = row }
        }
    }

    deinit { shutdown() }

    // MARK: - Starting and attaching

    /// Starts a private cluster of `engines` engines (plus the home engine) running `python`.
    ///
    /// - Throws: ``PythonInstallation/Unusable`` when the Python cannot be embedded, ``ClusterError``
    ///   when the cluster does not come up.
    ///
    /// - Parameter tcp: where the controller also accepts engines over TCP (see ``TCPEndpoint``); nil: none.
    /// - Parameter controllerArguments: more options for the controller (the launcher's).
    /// - Parameter startTimeout: how long to wait for the engines, in seconds (a launcher's controller
    ///   gives up sooner, with its reason, at its own `--start-timeout`).
    public static func start(
        engines count: Int,
        python: String = "python3",
        tcp: TCPEndpoint? = nil,
        controllerArguments: [String] = [],
        startTimeout: Double = 150
    ) throws -> Cluster {
        let installation = try PythonInstallation.locate(python)
        let layout = try ClusterError.withContext("making a private cluster's directory") {
            try ClusterLayout.makePrivate()
        }
        do {
            return try launch(
                in: layout,
                engines: count,
                installation: installation,
                name: nil,
                tcp: tcp,
                controllerArguments: controllerArguments,
                startTimeout: startTimeout
            )
        } catch {
            layout.remove()
            throw error
        }
    }

    /// Starts a named cluster that outlives this process, and returns once its engines are up.
    ///
    /// Named clusters take engines over TCP: at `tcp`, by default on the loopback address.
    ///
    /// - Parameter interrupt: readable when the user interrupts the start (a Ctrl-C self-pipe). The
    ///   controller, and whatever it had started, is then stopped, and ``ClusterError/interrupted`` thrown.
    public static func startNamed(
        _ name: String,
        engines count: Int,
        python: String = "python3",
        tcp: TCPEndpoint = TCPEndpoint(),
        controllerArguments: [String] = [],
        startTimeout: Double = 150,
        interruptedBy interrupt: FileDescriptor? = nil
    ) throws -> Cluster {
        let installation: PythonInstallation
        do {
            installation = try PythonInstallation.locate(python)
        } catch  where isReadable(interrupt) {
            // The terminal's Ctrl-C also ended the probe of the python.
            throw ClusterError.interrupted
        }
        let layout = try namedLayout(name)
        if (try? UnixSocket.connect(to: layout.socketPath)).map({
            $0.close()
            return true
        }) == true {
            throw ClusterError.invalidRequest("a cluster named '\(name)' is already running")
        }
        do {
            return try launch(
                in: layout,
                engines: count,
                installation: installation,
                name: name,
                tcp: tcp,
                controllerArguments: controllerArguments,
                startTimeout: startTimeout,
                interruptedBy: interrupt
            )
        } catch {
            // Its controller is gone (see launch): its logs, whose reason the error carries, go with the
            // directory, unless a cluster of the same name started meanwhile answers there.
            if (try? UnixSocket.connect(to: layout.socketPath)).map({ $0.close() }) == nil { layout.remove() }
            throw error
        }
    }

    /// Starts a controller for the cluster in `layout` and waits until its engines are up.
    private static func launch(
        in layout: ClusterLayout,
        engines count: Int,
        installation: PythonInstallation,
        name: String?,
        tcp: TCPEndpoint?,
        controllerArguments: [String],
        startTimeout: Double,
        interruptedBy interrupt: FileDescriptor? = nil
    ) throws -> Cluster {
        if isReadable(interrupt) { throw ClusterError.interrupted }
        return try ClusterError.withContext(
            "starting \(name.map { "the cluster '\($0)'" } ?? "a cluster") in \(layout.directory)"
        ) {
            let (pid, socket, log) = try spawnController(
                layout: layout,
                engines: count,
                installation: installation,
                name: name,
                tcp: tcp,
                extraArguments: controllerArguments
            )
            defer { log.close() }
            let cluster: Cluster
            do {
                cluster = try handshake(
                    socket: socket,
                    controllerPID: pid,
                    name: name,
                    layout: layout,
                    controllerLog: log,
                    timeoutMilliseconds: Int(startTimeout * 1000),
                    wakingOn: interrupt
                )
            } catch {
                // A cluster that did not start (or whose start was interrupted) leaves nothing running.
                kill(pid, SIGTERM)
                awaitExit(ofController: pid)
                throw error
            }
            try cluster.checkStarted()
            return cluster
        }
    }

    /// Whether `descriptor` is there and readable now.
    private static func isReadable(_ descriptor: FileDescriptor?) -> Bool {
        guard let descriptor else { return false }
        return (try? Poll.wait([(descriptor, .readable)], timeoutMilliseconds: 0))?.first?.isEmpty == false
    }

    /// Attaches to the named cluster `name`.
    ///
    /// - Parameter timeout: how long the controller may take to answer, in seconds (a cluster
    ///   whose launcher's engines are still joining answers at once).
    public static func attach(name: String, timeout: Double = 120) throws -> Cluster {
        let layout = try namedLayout(name, create: false)
        guard let socket = try? FrameSocket.connect(to: layout.socketPath) else {
            throw ClusterError.noSuchCluster(name)
        }
        return try ClusterError.withContext("attaching to the cluster '\(name)' in \(layout.directory)") {
            try handshake(
                socket: socket,
                controllerPID: nil,
                name: name,
                layout: layout,
                timeoutMilliseconds: Int(timeout * 1000)
            )
        }
    }

    /// The pxsh executable whose hidden roles run the controller and engines: `$PXSH_EXECUTABLE`, else
    /// this process if it is pxsh, else a `pxsh` beside this program, else one on PATH. A program that
    /// embeds the client library can also set it.
    public nonisolated(unsafe) static var executable: String = {
        if let path = getenv("PXSH_EXECUTABLE").map({ String(cString: $0) }), !path.isEmpty { return path }
        let current = ProcessSpawner.currentExecutable
        if current.split(separator: "/").last == "pxsh" { return current }
        let sibling =
            current.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/") + "/pxsh"
        if access(sibling, X_OK) == 0 { return sibling }
        return ProcessSpawner.findExecutable("pxsh") ?? current
    }()

    /// The directory of the named cluster `name`, created if asked.
    public static func namedDirectory(_ name: String, create: Bool = true) throws -> String {
        try namedLayout(name, create: create).directory
    }

    /// The names of the named clusters that have a directory (running or left behind), sorted.
    public static func namedClusterNames() throws -> [String] {
        try ClusterLayout.namedClusterNames()
    }

    private static func namedLayout(_ name: String, create: Bool = true) throws -> ClusterLayout {
        do {
            return try ClusterError.withContext("making the directory of the cluster '\(name)'") {
                try ClusterLayout.named(name, create: create)
            }
        } catch let error as ClusterLayout.InvalidName {
            throw ClusterError.invalidRequest(error.description)
        }
    }

    /// The controller inherits its listening socket, already bound, so we can connect without waiting.
    private static func spawnController(
        layout: ClusterLayout,
        engines: Int,
        installation: PythonInstallation,
        name: String?,
        tcp: TCPEndpoint?,
        extraArguments: [String]
    ) throws -> (pid: pid_t, socket: FrameSocket, log: FileDescriptor) {
        let listener = try UnixSocket.listen(at: layout.socketPath)
        defer { listener.close() }
        let log = try FileDescriptor.open(layout.controllerLogPath, flags: O_WRONLY | O_CREAT | O_APPEND)
        defer { log.close() }
        // Kept open to read why a start failed: a private controller removes its directory as it exits.
        let logReader = try FileDescriptor.open(layout.controllerLogPath, flags: O_RDONLY)
        var arguments = [
            "controller", "--directory", layout.directory, "--engines", String(engines), "--python",
            installation.executable,
            "--libpython", installation.libraryPath, "--listener-on-stdin",
        ]
        if let name { arguments += ["--name", name] }
        if let tcp { arguments += ["--ip", tcp.address, "--port", String(tcp.port)] }
        if let location = tcp?.location { arguments += ["--location", location] }
        arguments += extraArguments
        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(
                executable,
                arguments: arguments,
                output: log,
                standardInput: listener,
                newSession: name != nil
            )
        } catch {
            logReader.close()
            throw error
        }
        do {
            return (pid, try FrameSocket.connect(to: layout.socketPath), logReader)
        } catch {
            logReader.close()
            kill(pid, SIGKILL)
            _ = ProcessSpawner.wait(pid)
            throw error
        }
    }

    private static func handshake(
        socket: FrameSocket,
        controllerPID: pid_t?,
        name: String?,
        layout: ClusterLayout,
        controllerLog: FileDescriptor? = nil,
        timeoutMilliseconds: Int = 120_000,
        wakingOn interrupt: FileDescriptor? = nil
    ) throws
        -> Cluster
    {
        func controllerLogTail() -> String {
            let tail = controllerLog?.lastLines(count: 6) ?? fileTail(layout.controllerLogPath)
            return tail.isEmpty ? "the controller exited" : tail
        }
        // A controller that exits at once (it cannot listen on --ip, say) resets the connection; its log says why.
        func controllerEnded<T>(_ step: () throws -> T) throws -> T {
            do {
                return try step()
            } catch let error as SystemError where error.code == ECONNRESET || error.code == EPIPE {
                throw controllerPID == nil ? error : ClusterError.startFailed(controllerLogTail())
            }
        }
        try controllerEnded { try socket.send(Hello(role: .client, fields: [String(getpid())]).frame) }
        while true {
            let received = try controllerEnded {
                try socket.receive(timeoutMilliseconds: Int32(clamping: timeoutMilliseconds), wakingOn: interrupt)
            }
            switch received {
            case .frame(let frame) where frame.kind == .welcome:
                return Cluster(socket: socket, controllerPID: controllerPID, name: name, layout: layout, welcome: frame)
            case .frame(let frame) where frame.kind == .refused:
                throw ClusterError.refused(frame.segments.first?.text ?? "")
            case .frame:
                continue
            case .closed:
                throw ClusterError.startFailed(controllerLogTail())
            case .woken:
                throw ClusterError.interrupted
            case .timedOut:
                if controllerPID == nil { throw ClusterError.notAnswering(seconds: Double(timeoutMilliseconds) / 1000) }
                throw ClusterError.startFailed("the engines did not start within \(timeoutMilliseconds / 1000) s")
            }
        }
    }

    /// A cluster whose engines all failed to start is of no use: it is stopped, saying why. (One that
    /// this process attaches to may have lost them all, remote engines are not restarted, and must
    /// still be reachable, to stop it.)
    private func checkStarted() throws {
        let failed = engineList.filter { $0.state == .dead }
        guard !failed.isEmpty, failed.count == engineList.count || homeEngine?.state == .dead else { return }
        let why = Cluster.fileTail(layout.engineLogPath(homeEngine?.state == .dead ? EngineNumber.home : failed[0].id))
        if name == nil { shutdown() } else { try? stopCluster() }
        throw ClusterError.startFailed(why.isEmpty ? "engines exited at start" : why)
    }

    static func fileTail(_ path: String, lines: Int = 6) -> String {
        FileDescriptor.lastLines(ofFile: path, count: lines)
    }

    /// The connection file of this cluster (JSON with its address, port and key), for engines that
    /// join over TCP; nil when the cluster takes no engines over TCP.
    public var connectionFile: String? {
        guard let path = connectionFilePath, let bytes = try? FileDescriptor.readAll(path) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Where ``connectionFile`` is; nil when the cluster takes no engines over TCP.
    public var connectionFilePath: String? {
        access(layout.connectionFilePath, F_OK) == 0 ? layout.connectionFilePath : nil
    }

    // MARK: - Engines

    /// The engines (not the home engine) in id order.
    public var engineList: [EngineStatus] { knownEngines.values.filter { $0.id >= 0 }.sorted { $0.id < $1.id } }

    /// The ids of the live engines, which `all` means.
    public var liveEngineIDs: [Int32] { engineList.filter { $0.state != .dead }.map(\.id) }

    var homeEngine: EngineStatus? { knownEngines[EngineNumber.home] }

    /// The id of the first task of `result`, reading until the controller has given it (it answers
    /// submissions in order, at once). nil only if the result has no tasks.
    package func taskIDs(of result: AsyncResult, wakingOn interrupt: FileDescriptor? = nil) throws -> UInt64? {
        while result.firstTaskID == nil && !result.tasks.isEmpty {
            if case .woken = try pump(timeoutMilliseconds: 1_000, interrupt: interrupt) {
                throw ClusterError.interrupted
            }
        }
        return result.firstTaskID
    }

    /// Asks the controller which unfinished tasks of `results` are running, so their state
    /// reads "running" rather than "pending" before any output arrives.
    public func refreshStates(of results: [AsyncResult]) throws {
        for result in results where !result.isReady { _ = try taskIDs(of: result) }
        var open: [(result: AsyncResult, index: Int)] = []
        var ids: [UInt64] = []
        for result in results where !result.isReady {
            guard let first = result.firstTaskID else { continue }
            for index in result.tasks.indices where !result.tasks[index].isDone {
                open.append((result, index))
                ids.append(first + UInt64(index))
            }
        }
        guard !ids.isEmpty else { return }
        let states = try control(.status, tasks: ids)
        for (position, state) in states.enumerated() where position < open.count {
            if state.text.hasPrefix("running") {
                open[position].result.tasks[open[position].index].isRunning = true
            }
        }
    }

    /// Stops and removes engines; they leave ``engines`` at once.
    public func removeEngines(_ ids: [Int32]) throws {
        _ = try control(.remove, engines: ids)
        for id in ids { knownEngines.removeValue(forKey: id) }
    }

    // MARK: - Shutting down

    /// Leaves the cluster. A private cluster shuts down, and this waits for its controller to exit.
    public func shutdown() {
        if !isClosed {
            isClosed = true
            failPending(.disconnected(closeReason ?? "the cluster was shut down"))
            socket.shutdown()
        }
        endPrivateController()
    }

    /// Waits for a private cluster's controller and removes the cluster's directory, which a controller
    /// that was killed leaves behind. Once: its pid may be reused after the wait.
    private func endPrivateController() {
        guard name == nil, let controllerPID, !isControllerEnded else { return }
        isControllerEnded = true
        Cluster.awaitExit(ofController: controllerPID)
        layout.remove()
    }

    /// Stops the whole cluster, named or private, waits until its controller is gone, and removes
    /// a named cluster's directory (its logs with it).
    ///
    /// - Parameter timeout: how long the controller may take to stop its engines and launcher jobs, in
    ///   seconds; then it is killed.
    /// - Throws: ``ClusterError/stopFailed(_:)`` when the controller is still there even after
    ///   SIGKILL; the directory is then kept.
    public func stopCluster(timeout: Double = Cluster.controllerExitTimeout) throws {
        let pid = controllerPID ?? (try? layout.readDescription().pid)
        _ = try control(.shutdown)
        shutdown()
        guard name != nil else { return }
        // Its directory goes only once the controller is gone: one still ending would remove the files
        // of a cluster started again under the same name (it removes only its own, but not its logs).
        if let pid, !Cluster.awaitExit(ofController: pid, timeout: timeout) {
            throw ClusterError.stopFailed("its controller (pid \(pid)) did not exit, even when killed")
        }
        layout.remove()
    }

    /// Stops the named cluster `name` as ``stopCluster(timeout:)`` does. A controller that does not answer
    /// within `answerTimeout` seconds (stopped with SIGSTOP, stuck, or welcoming no client while engines
    /// start) is found by the pid that the cluster's description gives, once its command line shows it is
    /// that cluster's controller, and asked to stop by signal: SIGTERM, and SIGCONT in case it is stopped
    /// (it then ends its engines as when asked); one still there after `timeout` seconds is killed.
    ///
    /// - Returns: nil when the cluster stopped as asked, else what was done instead.
    /// - Throws: ``ClusterError/noSuchCluster(_:)``; ``ClusterError/stopFailed(_:)`` when the controller
    ///   does not answer and cannot be found or killed.
    public static func stop(
        name: String,
        timeout: Double = controllerExitTimeout,
        answerTimeout: Double = 10
    ) throws -> String? {
        do {
            try attach(name: name, timeout: answerTimeout).stopCluster(timeout: timeout)
            return nil
        } catch ClusterError.noSuchCluster {
            let layout = try namedLayout(name, create: false)
            guard let pid = goneController(of: layout) else { throw ClusterError.noSuchCluster(name) }
            layout.remove()
            return
                "its controller (pid \(pid)) was already gone (killed?), so its directory \(layout.directory) was removed"
        } catch ClusterError.notAnswering {
            let layout = try namedLayout(name, create: false)
            guard let pid = try? layout.readDescription().pid, isController(pid, of: layout) else {
                throw ClusterError.stopFailed(
                    "its controller does not answer, and \(layout.descriptionPath) names none"
                )
            }
            let wasStopped = ["T", "t"].contains(ProcessTable.entry(pid)?.state)
            kill(pid, SIGTERM)
            kill(pid, SIGCONT)
            let what =
                "its controller (pid \(pid)) did not answer within \(Int(answerTimeout)) s"
                + (wasStopped ? " (it was stopped)" : "") + ", so it was sent SIGTERM"
                + (wasStopped ? " and SIGCONT" : "")
            if ProcessSpawner.waitUntilGone(pid, milliseconds: Int(timeout * 1000)) {
                layout.remove()
                return what + ", and ended its engines"
            }
            kill(pid, SIGKILL)
            guard ProcessSpawner.waitUntilGone(pid, milliseconds: 10_000) else {
                throw ClusterError.stopFailed("its controller (pid \(pid)) did not exit, even when killed")
            }
            layout.remove()
            return what + ", then killed (SIGKILL) after \(Int(timeout)) s; its engines exit as their connections close"
        }
    }

    /// The pid of the named cluster's controller when it is gone and left the cluster's directory
    /// (killed with SIGKILL, it could not remove it); nil when there is no such directory, or its
    /// controller runs or has not yet described itself (a start under way).
    public static func goneController(ofCluster name: String) -> pid_t? {
        (try? namedLayout(name, create: false)).flatMap(goneController(of:))
    }

    private static func goneController(of layout: ClusterLayout) -> pid_t? {
        guard DirectoryListing.isOwnDirectory(layout.directory), let pid = try? layout.readDescription().pid,
            !isController(pid, of: layout),
            (try? UnixSocket.connect(to: layout.socketPath)).map({ $0.close() }) == nil
        else { return nil }
        return pid
    }

    /// Whether `pid` runs the controller of the cluster in `layout` (a pid may have been reused).
    private static func isController(_ pid: pid_t, of layout: ClusterLayout) -> Bool {
        ProcessTable.entry(pid)?.commandLine.contains(" controller --directory \(layout.directory) ") == true
    }

    /// How long a controller may take to exit once asked, in seconds: it gives its engines and
    /// launcher jobs their own grace periods first (seconds each).
    public static let controllerExitTimeout: Double = 30

    /// Waits for a controller that was asked to stop to exit; one still there after `timeout` seconds
    /// is killed, and waited for again. A controller is never left running.
    ///
    /// - Returns: whether it is gone.
    @discardableResult
    static func awaitExit(ofController pid: pid_t, timeout: Double = controllerExitTimeout) -> Bool {
        if ProcessSpawner.waitUntilGone(pid, milliseconds: Int(timeout * 1000)) { return true }
        kill(pid, SIGKILL)
        return ProcessSpawner.waitUntilGone(pid, milliseconds: 10_000)
    }

    // MARK: - Requests

    /// Submits a request and returns its result at once; the result fills in as frames arrive.
    package func submit(_ submission: Submission, label: String, name: String? = nil) throws -> AsyncResult {
        try ensureOpen()
        resultNumber += 1
        let targets: [Int32?] =
            submission.isBalanced ? Array(repeating: nil, count: submission.taskCount) : submission.targets
        let result = AsyncResult(number: resultNumber, name: name, label: label, op: submission.op, targets: targets)
        let requestID = nextRequestID
        nextRequestID += 1
        awaitingAcceptance[requestID] = result
        do {
            try socket.send(submission.frame(requestID: requestID))
        } catch {
            awaitingAcceptance.removeValue(forKey: requestID)
            throw connectionLost(failure: error)
        }
        return result
    }

    /// Sends a control request and waits for its answer.
    package func control(
        _ op: ControlOp,
        engines ids: [Int32] = [],
        tasks: [UInt64] = [],
        argument: String? = nil,
        interrupt: FileDescriptor? = nil
    )
        throws -> [Bytes]
    {
        try ensureOpen()
        let requestID = nextRequestID
        nextRequestID += 1
        var segments = [IDList.encode(ids) + IDList.encode(tasks)]
        if let argument { segments.append(Bytes(text: argument)) }
        do {
            try socket.send(Frame(kind: .control, op: op.rawValue, id: requestID, segments: segments))
        } catch {
            throw connectionLost(failure: error)
        }
        while controlReplies[requestID] == nil {
            if case .woken = try pump(timeoutMilliseconds: -1, interrupt: interrupt) {
                abandonedControlRequests.insert(requestID)
                throw ClusterError.interrupted
            }
        }
        return controlReplies.removeValue(forKey: requestID) ?? []
    }

    /// Waits until `result` is ready, `timeout` seconds pass (nil: no limit), or `interrupt` is readable.
    ///
    /// - Returns: whether the result is ready.
    /// - Throws: ``ClusterError/interrupted`` when `interrupt` became readable; ``ClusterError/disconnected(_:)``.
    @discardableResult
    public func wait(for result: AsyncResult, timeout: Double? = nil, interrupt: FileDescriptor? = nil) throws -> Bool {
        let deadline = timeout.map { Deadline(seconds: $0) }
        while !result.isReady {
            if deadline?.hasPassed == true { return false }
            if case .woken = try pump(timeoutMilliseconds: Deadline.pollTimeout(until: deadline), interrupt: interrupt)
            {
                throw ClusterError.interrupted
            }
        }
        return true
    }

    /// Reads and dispatches whatever frames arrive within `timeoutMilliseconds` (at least one if any).
    @discardableResult
    package func pump(timeoutMilliseconds: Int32, interrupt: FileDescriptor? = nil) throws -> FrameSocket.Received {
        try ensureOpen()
        // Ctrl-C comes before frames that are already waiting: during a flood of output there
        // always are some, and showing them all first took a minute.
        if Cluster.isReadable(interrupt) { return .woken }
        let received: FrameSocket.Received
        do {
            received = try socket.receive(timeoutMilliseconds: timeoutMilliseconds, wakingOn: interrupt)
        } catch {
            throw connectionLost(failure: error)
        }
        switch received {
        case .frame(let frame):
            dispatch(frame)
            // Take in what has arrived without blocking again; bounded (in frames and in time:
            // showing output may block on a slow terminal), so that an engine that prints without
            // end cannot keep the caller from its own checks (Ctrl-C, seen at the next pump; a deadline).
            var drained = 0
            let drainUntil = Deadline(milliseconds: 10)
            while drained < 1_024, !drainUntil.hasPassed,
                case .frame(let next) = try socket.receive(timeoutMilliseconds: 0)
            {
                dispatch(next)
                drained += 1
            }
        case .closed:
            throw connectionLost(failure: nil)
        case .timedOut, .woken:
            break
        }
        return received
    }

    /// Whether input arrives (or `interrupt` turns readable) within `seconds`, polling without sleeping;
    /// the CPU goes to any other task runnable on it meanwhile (see ``SpinPolicy``).
    public func pollBriefly(seconds: Double, interrupt: FileDescriptor?) -> Bool {
        var list = PollList()
        list.append(socket.descriptor, .readable)
        if let interrupt { list.append(interrupt, .readable) }
        let end = Clock.monotonicNanoseconds + UInt64(seconds * 1e9)
        while true {
            guard (try? list.wait(timeoutMilliseconds: 0)) != nil else { return false }
            if (0..<list.count).contains(where: { !list.readyEvents(at: $0).isEmpty }) { return true }
            if Clock.monotonicNanoseconds >= end { return false }
            sched_yield()
        }
    }

    /// Processes frames that have already arrived, without waiting.
    public func poll() throws {
        try pump(timeoutMilliseconds: 0)
    }

    // MARK: - Dispatch

    private func dispatch(_ frame: Frame) {
        switch frame.kind {
        case .accepted:
            guard let accepted = Accepted(frame), let result = awaitingAcceptance.removeValue(forKey: frame.id) else {
                return
            }
            result.firstTaskID = accepted.first
            for index in 0..<min(accepted.count, result.tasks.count) {
                taskIndex[accepted.first + UInt64(index)] = (result, index)
            }
        case .reply:
            if frame.flags.contains(.storedAtHome) {
                awaitingStore.removeValue(forKey: frame.id)?.record(storeReply: frame)
                return
            }
            guard let (result, index) = taskIndex.removeValue(forKey: frame.id) else { return }
            result.record(reply: frame, task: index)
            if result.storesValueAtHome && !result.isStoreSettled { awaitingStore[frame.id] = result }
            result.valuesAtHome?.taskEnded(index, of: result, cluster: self)
        case .stream:
            guard let (result, index) = taskIndex[frame.id], let stream = OutputStream(rawValue: frame.op),
                let bytes = frame.segments.first
            else { return }
            result.record(output: bytes, stream: stream, task: index)
        case .controlReply:
            if abandonedControlRequests.remove(frame.id) == nil { controlReplies[frame.id] = frame.segments }
        case .event:
            guard let event = ClusterEvent(frame) else { return }
            apply(event)
        default:
            break
        }
    }

    private func apply(_ event: ClusterEvent) {
        switch event {
        case .engineStarted(let row):
            knownEngines[row.id] = row
        case .engineDied(let engine, _, _, let isRestarting, let host):
            if host != nil {
                // A lost remote engine leaves the cluster (nothing can start it again).
                knownEngines.removeValue(forKey: engine)
            } else {
                // A restarting engine stays among `all`: the controller holds its tasks until it is back.
                knownEngines[engine]?.state = isRestarting ? .starting : .dead
            }
        case .engineRemoved(let engine):
            // The client that removed it has dropped it already and says so itself.
            guard knownEngines.removeValue(forKey: engine) != nil else { return }
        case .taskRetried(let task, let engine):
            if let (result, index) = taskIndex[task] {
                result.tasks[index].isRunning = false
                result.notices.append("task \(index) retried after engine \(engine) died")
            }
        case .notice:
            break
        }
        onEvent?(event)
    }

    private func ensureOpen() throws {
        if isClosed { throw ClusterError.disconnected(closeReason ?? "the cluster was shut down") }
    }

    /// Closes the connection, which ended, and fails what waits on it.
    ///
    /// - Parameter failure: the send or receive that failed; nil when the controller closed the connection.
    private func connectionLost(failure: Error?) -> ClusterError {
        let why = reasonForLostConnection(failure)
        closeReason = why
        isClosed = true
        let error = ClusterError.disconnected(why)
        failPending(error)
        return error
    }

    /// Why the connection to the controller ended, in words: a named cluster was stopped (by another client:
    /// this one has gone by then), or its controller is gone without having stopped it. Errno text only
    /// for a failure that says more than that the controller closed the connection.
    private func reasonForLostConnection(_ failure: Error?) -> String {
        if let failure = failure as? SystemError, failure.code != EPIPE, failure.code != ECONNRESET {
            return "the connection to the controller failed: \(failure)"
        }
        guard let name, let pid = namedControllerPID else { return "the cluster's controller closed the connection" }
        // A controller that stops removes the cluster's description before it closes its connections.
        guard (try? layout.readDescription().pid) == pid else {
            return "the cluster '\(name)' was stopped by another client"
        }
        guard ProcessSpawner.waitUntilGone(pid, milliseconds: 1_000) else {
            return "the controller of the cluster '\(name)' (pid \(pid)) closed the connection"
        }
        return "the controller of the cluster '\(name)' (pid \(pid)) is gone without having stopped the cluster; "
            + "`pxsh cluster stop --name \(name)` removes what it left"
    }

    /// Fails every result still waiting for replies at once: none will come (see
    /// ``AsyncResult/Task/error(operation:)``, whose kind is ``RemoteError/Kind/disconnected``).
    private func failPending(_ error: ClusterError) {
        let waiting = Array(awaitingAcceptance.values) + taskIndex.values.map(\.result) + awaitingStore.values
        awaitingAcceptance = [:]
        taskIndex = [:]
        awaitingStore = [:]
        var seen = Set<ObjectIdentifier>()
        for result in waiting where seen.insert(ObjectIdentifier(result)).inserted {
            result.failUnfinished(error)
        }
    }
}
