import PxPlatform
import PxScheduling
import PxWire

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Engine life cycle

extension Controller {
    func launchInitialEngines() {
        guard options.launch.kind == .local else {
            initialEngines = [EngineNumber.home]
            launchEngine(id: EngineNumber.home, rank: 0)
            return startLauncherJobs()
        }
        let count = options.engineCount
        initialEngines = Set([EngineNumber.home] + (0..<Int32(count)))
        launchEngines([(EngineNumber.home, 0, 0)] + (0..<count).map { (Int32($0), $0, count) })
    }

    /// An id that no engine of this cluster has had (one more than the highest so far), reserved: the next
    /// call gives another even before an engine has it.
    func newEngineID() -> Int32 {
        let id = nextEngineID
        markUsed(id)
        return id
    }

    /// Records that an engine has id `id` (the home engine's is not counted).
    func markUsed(_ id: Int32) {
        guard id != EngineNumber.home else { return }
        usedEngineIDs.insert(id)
        nextEngineID = max(nextEngineID, id + 1)
    }

    /// Starts (or restarts) engine `id`; a failure to spawn is reported like a death.
    /// - Parameter size: the `size` its namespace gets; by default the number of engines now, so a
    ///   restarted engine sees what its peers see.
    @discardableResult
    func launchEngine(id: Int32, rank: Int, size: Int? = nil) -> Bool {
        launchEngines([(id, rank, size ?? rankedEngines.count)])[0]
    }

    /// Starts several engines at once; whether each started.
    @discardableResult
    func launchEngines(_ list: [(id: Int32, rank: Int, size: Int)]) -> [Bool] {
        let now = Clock.realtimeNanoseconds
        return zip(list, launcher.launch(list)).map { engine, result in
            let id = engine.id
            markUsed(id)
            do {
                let launched = try result.get()
                var slot = EngineSlot(id: id, rank: engine.rank, pid: launched.pid, since: now)
                slot.queue = engines[id]?.queue ?? []
                slot.outputs = launched.outputs
                engines[id] = slot
                watchedChanged()
                return true
            } catch {
                log("controller: cannot start engine \(id): \(error)")
                var slot = EngineSlot(id: id, rank: engine.rank, pid: -1, since: now)
                slot.handle(.exited(cause: "\(error)"))
                engines[id] = slot
                broadcast(.notice("cannot start engine \(id): \(error)"))
                return false
            }
        }
    }

    /// An engine said hello: send it what waited for it and tell the clients.
    func engineConnected(_ id: Int32) {
        guard let slot = engines[id], let peer = slot.connection else { return }
        for task in slot.queue where send(task, to: id, over: peer) {
            if records[task]?.isBalanced == false { records[task]?.arguments = nil }
        }
        if !slot.isHome { apply(balancer.handle(.engineJoined(EngineID(id)))) }
        broadcast(.engineStarted(row(of: slot)))
        welcomeWaitingClientsIfReady()
        answerControlsAwaiting(engine: id)
    }

    /// An engine's connection closed: fail its work once a child's process is reaped (see
    /// ``reapEngines()``), at once for a remote engine, which has no process here.
    func engineLost(_ id: Int32, reason: String) {
        guard var slot = engines[id] else { return }
        slot.connection = nil
        slot.lostAt = Clock.monotonicNanoseconds
        slot.handle(.connectionLost(reason: reason))
        engines[id] = slot
        if slot.isChild {
            reapEngines()
        } else {
            engineEnded(id, cause: reason)
        }
    }

    /// How long an engine asked to exit may take to finish Python before it is killed.
    static let exitGraceNanoseconds: UInt64 = 2_000_000_000

    /// Ends engine `id` for `plan`: asks it to exit as Python exits (atexit handlers, files flushed)
    /// and kills it if it has not within the grace period; kills it at once if `immediately`, or if
    /// it is not connected.
    func stopEngine(_ id: Int32, plan: EngineSlot.ExitPlan, immediately: Bool = false) {
        guard var slot = engines[id], slot.isChild else { return }
        slot.handle(plan == .restart ? .restartRequested : .removeRequested)
        if !immediately, let peer = slot.connection {
            peer.connection.enqueue(Frame(kind: .shutdown, engine: id))
            peer.connection.flush()
            slot.killDeadline = Clock.monotonicNanoseconds + Controller.exitGraceNanoseconds
        } else {
            launcher.signal(slot.pid, SIGKILL)
        }
        engines[id] = slot
    }

    /// Removes remote engine `id` as ``stopEngine(_:plan:immediately:)`` does a child: asks it to exit
    /// as Python exits, and closes its connection (which ends it) if it has not within the grace
    /// period (see ``Controller/checkHeartbeats()``).
    func stopRemoteEngine(_ id: Int32) {
        guard var slot = engines[id], !slot.isChild else { return }
        slot.handle(.removeRequested)
        if let peer = slot.connection {
            peer.connection.enqueue(Frame(kind: .shutdown, engine: id, segments: [ShutdownScope.alone]))
            peer.connection.flush()
            slot.killDeadline = Clock.monotonicNanoseconds + Controller.exitGraceNanoseconds
        }
        engines[id] = slot
        if slot.connection == nil && slot.life.state == .launching { abandonLaunch(of: id) }
    }

    /// Forgets an engine that has left the cluster, and stops watching its descriptors.
    func removeEngine(_ id: Int32) {
        engines.removeValue(forKey: id)
        watchedChanged()
    }

    /// Looks for engines that have exited, so that deaths are reported with their signal or status.
    func reapEngines() {
        if launcher.zygote != nil { reapAdoptedProcesses() }
        let now = Clock.monotonicNanoseconds
        for (id, slot) in engines where slot.needsReaping && slot.pid > 0 {
            if let termination = ProcessSpawner.reap(slot.pid) {
                // What an engine that exited left running in its process group goes with it.
                if slot.life.isBeingRemoved || slot.life.state == .restarting { kill(-slot.pid, SIGKILL) }
                engineEnded(id, cause: termination.description)
            } else if let deadline = slot.killDeadline {
                if now > deadline {
                    launcher.signal(slot.pid, SIGKILL)
                    engines[id]?.killDeadline = nil
                }
            } else if slot.connection == nil, let lostAt = slot.lostAt, now - lostAt > 1_000_000_000 {
                // Closed its socket but did not exit: it is of no use; make sure it is gone.
                launcher.signal(slot.pid, SIGKILL)
                _ = ProcessSpawner.wait(slot.pid, milliseconds: 500)
                engineEnded(id, cause: "lost its connection")
            }
        }
    }

    /// ``reapAdoptedProcesses()`` at most every 50 ms: on every turn of a busy loop it was one system call
    /// (`waitid`) more per request. What is left a zombie meanwhile is reaped on a later turn (within a
    /// second when the cluster is idle, as before).
    func reapAdoptedProcessesIfDue() {
        let now = Clock.monotonicNanoseconds
        guard now >= nextAdoptedReap else { return }
        nextAdoptedReap = now + 50_000_000
        reapAdoptedProcesses()
    }

    /// Reaps processes that ended after this subreaper adopted them (what an engine started and left
    /// behind), so none stays a zombie; engines and the zygote are left to their own waits.
    func reapAdoptedProcesses() {
        while let pid = ProcessSpawner.firstExitedChild() {
            if pid == launcher.zygote?.pid || engines.values.contains(where: { $0.pid == pid }) { return }
            _ = ProcessSpawner.reap(pid)
        }
    }

    /// An engine process ended: fail or retry its tasks, tell the clients, and restart it if it should be.
    func engineEnded(_ id: Int32, cause: String) {
        // What it wrote before it died comes first: often it says why.
        closeOutputs(of: id)
        guard var slot = engines[id], !slot.life.isDead else { return }
        let isRestarting = slot.life.state == .restarting
        slot.handle(.exited(cause: cause))
        slot.connection = nil
        let queued = slot.queue
        slot.queue = []
        engines[id] = slot

        var message: String
        if isRestarting {
            message = "\(slot.label) was restarted"
        } else if slot.life.isBeingRemoved {
            message = "\(slot.label) was removed"
        } else if !slot.isChild {
            message = "\(slot.label) lost: \(cause)"
        } else {
            message = "\(slot.label) died: \(cause)"
            if !slot.life.hasRegistered {
                let tail = launcher.logTail(of: id)
                message = "\(slot.label) failed to start: \(cause)" + (tail.isEmpty ? "" : "\n" + tail)
            }
        }
        for task in queued where records[task]?.isBalanced == false {
            failTask(task, .engineError(message))
        }
        if !slot.isHome { apply(balancer.handle(.engineLeft(EngineID(id), retrying: !isRestarting))) }
        guard !isShuttingDown else { return }
        defer { failBalancedTasksIfNoEngine() }

        if slot.life.isBeingRemoved {
            removeEngine(id)
        } else if isRestarting {
            if slot.isChild { launchEngine(id: id, rank: slot.rank) } else { relaunchRemoteEngine(id) }
        } else if let host = slot.life.host {
            // Nothing here can start it again (its launcher, or its user, may add a new one): it
            // leaves the cluster, and the others learn their rank and size at the end of this turn.
            broadcast(.engineDied(engine: id, rank: slot.rank, cause: cause, isRestarting: false, host: host))
            removeEngine(id)
            hasLostEnginesSinceSettled = true
            ranksNeedSettling = true
        } else {
            // Restart an engine that had worked; one that could not start would only fail again.
            let restarts = slot.life.hasRegistered && launchEngine(id: id, rank: slot.rank)
            broadcast(
                .engineDied(
                    engine: id,
                    rank: slot.rank,
                    cause: slot.life.hasRegistered ? cause : message,
                    isRestarting: restarts
                )
            )
        }
        welcomeWaitingClientsIfReady()
        answerControlsAwaiting(engine: id)
    }

    func welcomeWaitingClientsIfReady() {
        guard !clientsAwaitingWelcome.isEmpty else { return }
        let ready = clientsAwaitingWelcome.filter { !mustAwaitStart($0) }
        clientsAwaitingWelcome.removeAll { peer in ready.contains { $0 === peer } }
        for peer in ready where !peer.isClosed { welcome(peer) }
    }

    /// Whether a client must wait before it is welcomed: while the cluster's first child engines start
    /// (engines that a client's `%add` starts later hold no one back: another client, `cluster stop`
    /// say, would wait for the whole add). Only the client that started the cluster (this process's
    /// parent) also waits for a launcher's engines, which may wait in a batch queue: others (`cluster
    /// status`, `cluster stop`) go on.
    func mustAwaitStart(_ peer: Peer) -> Bool {
        engines.values.contains { initialEngines.contains($0.id) && $0.life.isStartingForTheFirstTime && $0.isChild }
            || (launchersAwaitingEngines && peer.pid == getppid())
    }

    // MARK: - Output

    /// Forwards what an engine wrote to its stdout or stderr, as `stream` frames of its current task.
    ///
    /// The poll loop calls this after it has handled replies, so finished tasks are off the queue.
    /// A reply sent while its task's output was still in the pipes is flagged
    /// ``FrameFlags/outputPending``: the controller reads the pipes empty first (`untilEmpty`), so
    /// the output reaches the client before the result, and the engine waits for that before its
    /// next task, so output never lands on the wrong task.
    func forwardOutput(of id: Int32, stream: OutputStream, descriptor: FileDescriptor, untilEmpty: Bool = false) {
        var total = 0
        // Bounded, so that an engine printing without end cannot starve the loop.
        while total < 1 << 20 {
            let buffer = Controller.outputBuffer
            // Nothing there yet, or a failed read: the poll loop comes back to this pipe.
            guard let count = (try? descriptor.readAvailable(into: buffer)) ?? nil else { return }
            if count == 0 {
                closeOutput(descriptor, of: id)
                return
            }
            total += count
            if let slot = engines[id], let task = slot.queue.first ?? slot.lastTask {
                let bytes = Bytes(UnsafeRawBufferPointer(rebasing: Controller.outputBuffer[0..<count]))
                forwardStream(Frame(kind: .stream, op: stream.rawValue, engine: id, id: task, segments: [bytes]))
            }
            if !untilEmpty { return }
        }
    }

    /// Reads what is left in an engine's pipes and closes them.
    func closeOutputs(of id: Int32) {
        for (stream, descriptor) in engines[id]?.outputs ?? [] {
            forwardOutput(of: id, stream: stream, descriptor: descriptor, untilEmpty: true)
        }
        for (_, descriptor) in engines[id]?.outputs ?? [] { descriptor.close() }
        engines[id]?.outputs = []
        watchedChanged()
    }

    private func closeOutput(_ descriptor: FileDescriptor, of id: Int32) {
        guard let index = engines[id]?.outputs.firstIndex(where: { $0.descriptor == descriptor }) else { return }
        descriptor.close()
        engines[id]?.outputs.remove(at: index)
        watchedChanged()
    }

    // MARK: - Views

    func row(of slot: EngineSlot) -> EngineStatus {
        let rss = slot.isChild && !slot.life.isDead ? ProcessTable.residentBytes(of: slot.pid) ?? -1 : -1
        return EngineStatus(
            id: slot.id,
            rank: slot.rank,
            pid: slot.pid,
            state: slot.rowState,
            since: slot.since,
            queued: slot.queue.count,
            residentBytes: rss,
            host: slot.life.host ?? "local",
            canRestart: slot.life.isRelaunchable
        )
    }

    /// The engines, without those being removed.
    func engineRows() -> [EngineStatus] {
        engines.values.filter { !$0.life.isBeingRemoved }.sorted { $0.id < $1.id }.map(row(of:))
    }

    /// Tells every client, or every client but the one whose request caused the event (it hears from its reply).
    func broadcast(_ event: ClusterEvent, except cause: Peer? = nil) {
        let frame = event.frame
        for peer in peers where peer.role.isClient && peer !== cause { peer.connection.enqueue(frame) }
    }
}
