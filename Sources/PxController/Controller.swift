import PxLaunch
import PxPlatform
import PxScheduling
import PxSecurity
import PxTransport
import PxWire

#if canImport(Glibc)
import Glibc
#endif

/// The controller of one cluster: it starts and watches the engines, routes requests, schedules
/// load-balanced tasks and keeps task records until their client has them.
///
/// Everything happens on one thread, in a poll loop over the listening socket and every peer's
/// connection; the only state is this object's, changed by one event at a time. Scheduling
/// decisions come from ``LoadBalancer``, a pure state machine.
public final class Controller {
    let options: ControllerOptions
    let launcher: EngineLauncher
    var listener: FileDescriptor?
    /// Where engines on other hosts connect, when the cluster was started with an address.
    var tcpListener: FileDescriptor?
    /// The cluster's key and id, made when it starts; TCP peers must prove they hold the key.
    let clusterKey = ClusterKey.random()
    let clusterID = ConnectionFile.makeClusterID()
    /// When heartbeats last went out to remote engines (monotonic).
    var lastHeartbeatSent: UInt64 = 0
    /// When the loop last looked at heartbeats and deadlines (monotonic).
    var lastHeartbeatCheck: UInt64 = 0
    var peers: [Peer] = [] {
        didSet { watchedChanged() }
    }
    /// What the poll loop watches; nil when it must be built again.
    var watchList: WatchList?
    var engines: [Int32: EngineSlot] = [:]
    /// Every id an engine of this cluster has had: none is given to another engine, so that results
    /// and history that name an engine by id name one engine, as in ipyparallel (see ``newEngineID()``).
    var usedEngineIDs: Set<Int32> = []
    /// One more than the highest id in ``usedEngineIDs``.
    var nextEngineID: Int32 = 0
    /// The engines the cluster started with: clients are welcomed once these are up (see ``mustAwaitStart(_:)``).
    var initialEngines: Set<Int32> = []
    var records: [UInt64: TaskRecord] = [:]
    /// Answers held back so that each reaches its client in one write, by the request's first task.
    var heldAnswers: [UInt64: HeldAnswer] = [:]
    var balancer = LoadBalancer()
    var prefetchPolicy = PrefetchPolicy()
    /// Load-balanced tasks that finished during this turn of the loop, by engine.
    var finishedBalancedTasks: [Int32: [TaskID]] = [:]
    var nextTaskID: UInt64 = 1
    /// Load-balanced `apply` tasks whose calls the home engine packs now: the packing task, and
    /// the retries asked for (see ``Controller/submitPackedAtHome(_:first:from:)``).
    var callsBeingPacked: [UInt64: (pack: UInt64, retries: Int?)] = [:]
    var nextClientID = 1
    /// When the poll loop next looks for ended processes that engines left behind (monotonic).
    var nextAdoptedReap: UInt64 = 0
    var isShuttingDown = false
    /// Remote engines joined or were lost since the engines last learned their rank and size.
    var ranksNeedSettling = false
    /// Some of them were lost: the clients are told.
    var hasLostEnginesSinceSettled = false
    /// Clients that connected while the first engines were still starting; welcomed once they are up.
    var clientsAwaitingWelcome: [Peer] = []
    /// Control requests answered when the engines they started (restart, add) are up.
    var controlsAwaitingEngines: [(peer: Peer, request: UInt64, engines: Set<Int32>, asked: Set<Int32>)] = []
    /// Replies kept for clients that went away, oldest first, bounded by ``maximumOrphanedRecords``.
    var orphanedReplies: [UInt64] = []
    static let maximumOrphanedRecords = 10_000
    /// One buffer for reading every engine's output: the controller reads on a single thread.
    nonisolated(unsafe) static let outputBuffer = UnsafeMutableRawBufferPointer.allocate(
        byteCount: 1 << 16,
        alignment: 16
    )
    let uid = getuid()
    /// The jobs of the cluster's launcher (mpi, ssh, slurm), which start its engines.
    var launcherJobs: [LauncherJob] = []
    /// Why the launcher could not start the engines; the cluster then shuts down.
    var launcherFailure: String?
    /// When the launcher's jobs were started (monotonic): their engines must join within
    /// `options.launch.startTimeout` of it.
    var launchersStarted: UInt64 = 0
    /// Where engines put large buffers (see `pxsh_runtime.py`); nil where there is no /dev/shm.
    var sharedMemoryDirectory: String?
    /// The files this controller put in a named cluster's directory, which it removes when it ends
    /// (see ``claim(_:)``).
    var ownFiles: [String: FileIdentity] = [:]

    public init(options: ControllerOptions) {
        self.options = options
        self.launcher = EngineLauncher(options: options)
    }

    /// Runs the cluster until it is shut down. Never returns.
    ///
    /// - Parameter forkZygote: forks the zygote (``EngineZygote``) from this process, which then has
    ///   one thread; called first thing, so that the zygote starts Python while the controller sets
    ///   itself up. Without it, or if it returns nil, a zygote is spawned when engines are launched.
    public func run(forkingZygote forkZygote: (() -> (pid: pid_t, control: FileDescriptor)?)? = nil) -> Never {
        // The engines' environment, which the zygote and every engine inherit. A crashing engine
        // should show Python's fault report, not the Swift runtime's.
        setenv("SWIFT_BACKTRACE", "enable=no", 1)
        sharedMemoryDirectory = SharedMemory.makeDirectory()
        if let forkZygote, launcher.zygote != nil, let started = forkZygote() { launcher.zygote?.adopt(started) }
        ShutdownSignal.install()
        if options.isPrivate {
            // A private cluster dies with the pxsh that started it, even one killed with SIGKILL.
            guard Signals.dieWithParent(signal: SIGTERM) else { exit(0) }
        }
        do {
            try RuntimeDirectory.makePrivateDirectory(options.directory)
            // By this pid a later pxsh tells that a killed controller left this directory (ClusterLayout.makePrivate).
            if options.isPrivate { options.layout.writeControllerPID() }
            SharedMemory.removeStaleDirectories()
            let listener = try options.inheritedListener ?? UnixSocket.listen(at: options.socketPath)
            claim(options.socketPath)
            listener.setCloseOnExec()
            try listener.setNonBlocking(true)
            self.listener = listener
            try writeKeyAndListenForEngines()
            // Engines forked by the zygote are handed to this process, to signal and reap as children.
            if launcher.zygote != nil { try ProcessSpawner.becomeSubreaper() }
            launchInitialEngines()
            if let name = options.name { describe(name: name) }
            loop()
        } catch {
            log("controller: \(error)")
            shutDown(status: 1)
        }
        shutDown(status: 0)
    }

    func log(_ message: String) {
        try? FileDescriptor.standardError.writeAll(message + "\n")
    }

    // MARK: - The poll loop

    private func loop() {
        while !isShuttingDown {
            if ShutdownSignal.isRequested { return }
            // While a client is behind with its output, the engines feeding it are left unread (see
            // isOutputHeldBack): which ones may change every turn.
            let isHoldingBackOutput = peers.contains {
                $0.role.isClient && $0.connection.pendingOutputCount > Controller.outputBacklogLimit
            }
            assert(
                isHoldingBackOutput || watchList?.watchesTheSame(as: makeWatchList()) ?? true,
                "the poll loop's watch list is stale"
            )
            if watchList == nil || isHoldingBackOutput { watchList = makeWatchList() }
            let watch = watchList!
            for (index, peer) in watch.peers.enumerated() {
                watch.poll.setEvents(
                    peer.connection.wantsWrite ? [.readable, .writable] : .readable,
                    at: WatchList.firstPeer + index
                )
            }
            let needsReaping = engines.values.contains { $0.needsReaping }
            let hasRemotePeers = watch.hasRemotePeers || launcherJobs.contains { $0.ended == nil }
            do {
                let timeout: Int32 = !heldAnswers.isEmpty ? 1 : needsReaping ? 10 : hasRemotePeers ? 250 : 1_000
                try watch.poll.wait(timeoutMilliseconds: timeout)
            } catch {
                log("controller: \(error)")
                return
            }
            if !watch.poll.readyEvents(at: 0).isEmpty { acceptPeers() }
            if !watch.poll.readyEvents(at: 1).isEmpty && tcpListener != nil { acceptRemotePeers() }
            // Replies before output: output read now belongs to the task that heads its engine's
            // queue once finished ones are off it. A reply sent while its task's output was still in
            // the pipes says so (outputPending) and is handled by reading them first.
            for (index, peer) in watch.peers.enumerated() where !peer.isClosed {
                let events = watch.poll.readyEvents(at: WatchList.firstPeer + index)
                if !events.isEmpty { serve(peer, events: events) }
            }
            let firstOutput = WatchList.firstPeer + watch.peers.count
            for (index, output) in watch.outputs.enumerated()
            where !watch.poll.readyEvents(at: firstOutput + index).isEmpty {
                forwardOutput(of: output.engine, stream: output.stream, descriptor: output.descriptor)
            }
            if isHoldingBackOutput { watchList = nil }
            finishTurn()
            if needsReaping { reapEngines() } else if launcher.zygote != nil { reapAdoptedProcessesIfDue() }
            watchLauncherJobs()
            if hasRemotePeers { checkHeartbeatsIfDue() }
            settleRanksIfNeeded()
            releaseExpiredAnswers()
            flushAll()
        }
    }

    /// What the poll loop watches: the listeners, every peer and every engine's output pipes, in
    /// that order. It is built again only when one of them comes or goes (``watchedChanged()``), not
    /// on every turn: building it copied every engine's record each time.
    final class WatchList {
        /// The Unix-socket listener, then the TCP listener (the Unix one again when there is none, so
        /// that the peers start at a fixed place).
        static let firstPeer = 2
        let peers: [Peer]
        let outputs: [(engine: Int32, stream: OutputStream, descriptor: FileDescriptor)]
        var poll = PollList()
        /// Some peer is an engine on another host: heartbeats are due.
        let hasRemotePeers: Bool

        init(
            listeners: [FileDescriptor],
            peers: [Peer],
            outputs: [(engine: Int32, stream: OutputStream, descriptor: FileDescriptor)]
        ) {
            self.peers = peers
            self.outputs = outputs
            for listener in listeners { poll.append(listener, .readable) }
            for peer in peers { poll.append(peer.connection.pollDescriptor!, .readable) }
            for output in outputs { poll.append(output.descriptor, .readable) }
            hasRemotePeers = peers.contains { $0.host != nil }
        }

        /// Whether `other` watches the same peers and pipes (in any order).
        func watchesTheSame(as other: WatchList) -> Bool {
            peers.map(ObjectIdentifier.init) == other.peers.map(ObjectIdentifier.init)
                && Set(poll.descriptors) == Set(other.poll.descriptors)
        }
    }

    private func makeWatchList() -> WatchList {
        var outputs: [(engine: Int32, stream: OutputStream, descriptor: FileDescriptor)] = []
        for (id, slot) in engines where !isOutputHeldBack(slot) {
            for output in slot.outputs { outputs.append((id, output.stream, output.descriptor)) }
        }
        return WatchList(
            listeners: [listener!, tcpListener ?? listener!],
            peers: peers.filter { $0.connection.pollDescriptor != nil },
            outputs: outputs
        )
    }

    /// A peer or an engine's pipe came or went: the poll loop builds its watch list again.
    func watchedChanged() {
        watchList = nil
    }

    /// Whether an engine's output waits in its pipes until its client has taken in what is already
    /// on its way: an engine that prints without end then blocks in print instead of filling the
    /// controller's memory, and a reply (to Ctrl-C, say) never queues behind a flood of output.
    private func isOutputHeldBack(_ slot: EngineSlot) -> Bool {
        guard let task = slot.queue.first, let owner = records[task]?.owner, !owner.isClosed else { return false }
        return owner.connection.pendingOutputCount > Controller.outputBacklogLimit
    }

    /// How much output may wait to be written to one client before engines' pipes are left unread.
    static let outputBacklogLimit = 1 << 20

    private func acceptPeers() {
        while let fd = try? UnixSocket.accept(listener!) {
            guard let credentials = try? UnixSocket.peerCredentials(of: fd), credentials.uid == uid else {
                log("controller: refused a connection from another user")
                fd.close()
                continue
            }
            guard let connection = try? PeerConnection(fd) else {
                fd.close()
                continue
            }
            adopt(connection, pid: credentials.pid)
        }
    }

    private func serve(_ peer: Peer, events: Poll.Events) {
        if events.contains(.writable) && !peer.connection.flush() {
            close(peer, reason: "write failed")
            return
        }
        guard events.contains(.readable) || events.contains(.closed) else { return }
        receive(from: peer)
    }

    // MARK: - Connections

    /// Takes a new connection: a Unix-socket peer (`host` nil, `pid` from the kernel) or a TCP peer,
    /// which must go through the key exchange before anything else.
    @discardableResult
    func adopt(_ connection: any FrameConnection, pid: pid_t, host: String? = nil) -> Peer {
        let exchange = host.map { _ in KeyExchange.Responder(key: clusterKey, cluster: clusterID) }
        let peer = Peer(connection: connection, pid: pid, host: host, exchange: exchange)
        peers.append(peer)
        return peer
    }

    /// Reads what a peer sent and handles it, frame by frame.
    func receive(from peer: Peer) {
        do {
            let (frames, isClosed) = try peer.connection.readFrames()
            if !frames.isEmpty { peer.lastHeard = Clock.monotonicNanoseconds }
            for frame in frames where !peer.isClosed {
                if peer.exchange != nil {
                    authenticate(peer, frame)
                } else {
                    handle(frame, from: peer)
                }
            }
            if isClosed { close(peer, reason: "closed") }
        } catch {
            close(peer, reason: "\(error)")
        }
    }

    private func flushAll() {
        for peer in peers where peer.connection.wantsWrite {
            if !peer.connection.flush() { close(peer, reason: "write failed") }
        }
    }

    // MARK: - Frames

    private func handle(_ frame: Frame, from peer: Peer) {
        switch (peer.role, frame.kind) {
        case (.unknown, .hello):
            handshake(frame, from: peer)
        case (.client, .submit):
            guard let submission = Submission(frame) else {
                return close(peer, reason: "malformed submission")
            }
            submit(submission, requestID: frame.id, from: peer)
        case (.client, .control):
            control(frame, from: peer)
        case (.engine(let id), .reply):
            engineReplied(frame, engine: id)
        case (.engine, .stream):
            forwardStream(frame)
        case (.engine(let id), .ready) where peer.host != nil:
            remoteEngineReady(id)
        case (.engine, .heartbeat) where peer.host != nil:
            break  // Its arrival is what counts (`lastHeard`).
        case (.engine(let id), .shutdown) where peer.host != nil:
            remoteEngineWaitsForRanks(id, over: peer)
        case (.engine(let id), .leaving) where peer.host != nil:
            remoteEngineLeaves(id, over: peer, cause: frame.segments.first?.text ?? "it left")
        default:
            close(peer, reason: "unexpected \(frame.kind) frame")
        }
    }

    private func handshake(_ frame: Frame, from peer: Peer) {
        guard let hello = Hello(frame) else { return close(peer, reason: "bad handshake") }
        guard hello.version == Hello.protocolVersion else {
            return refuse(
                peer,
                saying: "protocol version \(hello.version) is not \(Hello.protocolVersion)",
                reason: "version mismatch"
            )
        }
        peer.connection.trust()
        if peer.host != nil {
            // Over TCP only engines, which have proved they hold the key; clients use the Unix socket.
            guard hello.role == .engine, hello.fields.first == "remote" else {
                return close(peer, reason: "only engines connect over TCP")
            }
            return registerRemoteEngine(peer, hello: hello)
        }
        switch hello.role {
        case .client:
            peer.role = .client(nextClientID)
            nextClientID += 1
            if let launcherFailure {
                return refuse(peer, saying: launcherFailure)
            }
            if mustAwaitStart(peer) {
                clientsAwaitingWelcome.append(peer)
            } else {
                welcome(peer)
            }
        case .engine:
            guard let id = hello.fields.first.flatMap({ Int32($0) }), var slot = engines[id], slot.isChild,
                slot.pid == peer.pid, slot.connection == nil, slot.life.state == .launching
            else {
                return close(peer, reason: "unknown engine")
            }
            peer.role = .engine(id)
            slot.connection = peer
            // A child says hello once Python is up: it is connected and ready at once.
            slot.handle(.connected)
            slot.handle(.registered(hasWork: !slot.queue.isEmpty))
            engines[id] = slot
            engineConnected(id)
        }
    }

    func welcome(_ peer: Peer) {
        let rows = engineRows().map { Bytes(text: $0.line) }
        peer.connection.enqueue(
            Frame(
                kind: .welcome,
                segments: [
                    Bytes(text: String(Hello.protocolVersion)), Bytes(text: options.name ?? ""),
                    Bytes(text: options.pythonExecutable),
                ] + rows
            )
        )
    }

    /// Tells `peer` why it may not stay (a `refused` frame, written at once), then closes it.
    func refuse(_ peer: Peer, saying why: String, reason: String = "refused") {
        peer.connection.enqueue(Frame(kind: .refused, segments: [Bytes(text: why)]))
        peer.connection.flush()
        close(peer, reason: reason)
    }

    func close(_ peer: Peer, reason: String) {
        guard !peer.isClosed else { return }
        if peer.exchange != nil && reason == "closed" {
            log(
                "controller: refused a TCP connection from \(peer.host ?? "?"): it closed during the key exchange "
                    + "(it does not hold the cluster's key, or is not a pxsh engine)"
            )
        } else if reason != "closed" && reason != "refused" {
            let who = peer.host.map { "from \($0)" } ?? "of pid \(peer.pid)"
            log("controller: closing the connection \(who) (\(peer.role)): \(reason)")
        }
        peer.isClosed = true
        peers.removeAll { $0 === peer }
        clientsAwaitingWelcome.removeAll { $0 === peer }
        dropAnswers(of: peer)
        switch peer.role {
        case .engine(let id):
            // A killed engine's connection can close after its successor was launched (its exit was
            // reaped first): it is not the successor's.
            if engines[id]?.connection === peer {
                engineLost(id, reason: reason == "closed" ? "its connection closed" : reason)
            }
        case .client:
            // A private cluster lives exactly as long as the client that started it (the home
            // engine's `px` is a client too, and may come and go).
            if options.isPrivate && peer.pid == getppid() { isShuttingDown = true }
        case .unknown:
            break
        }
    }

    // MARK: - Shutdown

    func shutDown(status: Int32) -> Never {
        isShuttingDown = true
        for peer in peers where peer.role.isClient { peer.connection.flush() }
        // Engines end as Python ends (atexit handlers run, open files are flushed): asked first,
        // killed only if they have not exited after the grace period. A remote engine is asked the
        // same; if it has not closed its connection within the grace period, the controller closes it.
        // A running task is interrupted first, as Ctrl-C would: otherwise its engine would still be
        // busy with it when the grace period ends, and be killed before Python could finish.
        for slot in engines.values where !slot.life.isDead {
            if let running = slot.queue.first { interruptRunningTask(running, on: slot.id) }
        }
        let remote = peers.filter { peer in
            guard case .engine = peer.role else { return false }
            return peer.host != nil && !peer.isClosed
        }
        for peer in remote {
            if case .engine(let id) = peer.role { peer.connection.enqueue(Frame(kind: .shutdown, engine: id)) }
            peer.connection.flush()
        }
        let running = engines.values.filter { $0.isChild && !$0.life.isDead }
        for slot in running {
            if let peer = slot.connection, !peer.isClosed {
                peer.connection.enqueue(Frame(kind: .shutdown, engine: slot.id))
                peer.connection.flush()
            } else {
                launcher.signal(slot.pid, SIGKILL)
            }
        }
        // The zygote ends while the engines' Python finishes, not after.
        launcher.zygote?.stop()
        let deadline = Clock.monotonicNanoseconds + Controller.exitGraceNanoseconds
        for slot in running {
            let now = Clock.monotonicNanoseconds
            let left = deadline > now ? Int((deadline - now) / 1_000_000) : 0
            if ProcessSpawner.wait(slot.pid, milliseconds: left) == nil {
                launcher.signal(slot.pid, SIGKILL)
                _ = ProcessSpawner.wait(slot.pid, milliseconds: 2_000)
            }
            // What it left running in its process group goes with it.
            kill(-slot.pid, SIGKILL)
        }
        waitForClose(remote.compactMap { $0.connection.pollDescriptor }, until: deadline)
        // Remote engines exit when their connection closes; then their launchers end by themselves.
        for peer in peers where peer.host != nil { peer.connection.pollDescriptor?.close() }
        stopLauncherJobs()
        if let listener { listener.close() }
        if let tcpListener { tcpListener.close() }
        if let sharedMemoryDirectory { RuntimeDirectory.remove(sharedMemoryDirectory) }
        if options.isPrivate {
            options.layout.remove()
        } else {
            for (path, identity) in ownFiles { identity.unlink(path) }
        }
        exit(status)
    }

    /// Records the file this controller just made at `path`, to remove when it ends. A named cluster's
    /// directory may by then hold a new controller's files under the same names (its cluster was stopped
    /// and started again while this one was still ending): those stay.
    func claim(_ path: String) {
        ownFiles[path] = FileIdentity(path: path)
    }

    /// Waits until each of `descriptors` reaches its end (its engine exited) or `deadline`
    /// (monotonic) passes; what still comes on them is read and dropped.
    private func waitForClose(_ descriptors: [FileDescriptor], until deadline: UInt64) {
        var open = descriptors
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while !open.isEmpty {
            let now = Clock.monotonicNanoseconds
            guard deadline > now else { return }
            let timeout = Int32((deadline - now) / 1_000_000)
            guard let ready = try? Poll.wait(open.map { ($0, .readable) }, timeoutMilliseconds: timeout) else { return }
            var ended = Set<Int32>()
            for (descriptor, events) in zip(open, ready) where !events.isEmpty {
                let count = Glibc.read(descriptor.rawValue, &buffer, buffer.count)
                if count == 0 || (count < 0 && errno != EINTR && errno != EAGAIN) { ended.insert(descriptor.rawValue) }
            }
            open.removeAll { ended.contains($0.rawValue) }
        }
    }

    /// Writes the named cluster's description, for `pxsh cluster list|status` and for clients.
    private func describe(name: String) {
        let description = ClusterDescription(
            name: name,
            pid: getpid(),
            engines: options.engineCount,
            python: options.pythonExecutable,
            created: Int(Clock.realtimeNanoseconds / 1_000_000_000)
        )
        do {
            try options.layout.writeDescription(description)
            claim(options.layout.descriptionPath)
        } catch {
            log("controller: cannot write \(options.layout.descriptionPath): \(error)")
        }
    }
}

/// A connection to the controller and who is on the other end.
final class Peer {
    enum Role {
        case unknown
        case client(Int)
        case engine(Int32)

        var isClient: Bool {
            if case .client = self { return true }
            return false
        }
    }

    let connection: any FrameConnection
    /// The peer's pid: from the kernel on the Unix socket, 0 over TCP.
    let pid: pid_t
    /// The address a TCP peer connected from; nil on the Unix socket.
    let host: String?
    /// The key exchange a TCP peer must finish before anything else is read.
    var exchange: KeyExchange.Responder?
    /// When a frame last came from the peer (monotonic).
    var lastHeard = Clock.monotonicNanoseconds
    /// When the peer connected (monotonic).
    let connectedAt = Clock.monotonicNanoseconds
    var role = Role.unknown
    var isClosed = false

    init(connection: any FrameConnection, pid: pid_t, host: String? = nil, exchange: KeyExchange.Responder? = nil) {
        self.connection = connection
        self.pid = pid
        self.host = host
        self.exchange = exchange
    }
}

/// SIGTERM and SIGHUP ask the controller to shut down; the handler only sets a flag.
enum ShutdownSignal {
    nonisolated(unsafe) private static var flag: sig_atomic_t = 0

    static var isRequested: Bool { flag != 0 }

    static func install() {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in ShutdownSignal.flag = 1 }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0  // No SA_RESTART: poll returns EINTR and the loop sees the flag.
        sigaction(SIGTERM, &action, nil)
        sigaction(SIGHUP, &action, nil)
        signal(SIGINT, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
    }
}
