import PxPlatform
import PxScheduling
import PxWire

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Tasks: submission, routing, replies

extension Controller {
    func submit(_ submission: Submission, requestID: UInt64, from peer: Peer) {
        let first = nextTaskID
        let count = submission.taskCount
        nextTaskID += UInt64(count)
        accept(
            Accepted(first: first, count: count).frame(requestID: requestID),
            first: first,
            count: count,
            isBalanced: submission.isBalanced,
            inOneFrame: submission.isAnsweredInOneFrame,
            from: peer
        )
        let now = Clock.realtimeNanoseconds
        let op = submission.op.rawValue

        let allowed = submission.allowedEngines
        if submission.isBalanced && !hasBalancedCapacity(among: allowed) {
            // Waiting would be forever: say so now.
            for index in 0..<count {
                let id = first + UInt64(index)
                records[id] = TaskRecord(owner: peer, request: first, op: op, isBalanced: true, submitted: now)
                failTask(id, .engineError(Controller.noEngineMessage(among: allowed)))
            }
            return
        }
        if submission.isPackedAtHome { return submitPackedAtHome(submission, first: first, from: peer) }
        // A balanced task's engine is the balancer's choice, made later.
        let engines: [Int32?] = submission.isBalanced ? Array(repeating: nil, count: count) : submission.targets
        for (index, engine) in engines.enumerated() {
            records[first + UInt64(index)] = TaskRecord(
                owner: peer,
                request: first,
                op: op,
                isBalanced: submission.isBalanced,
                submitted: now,
                engine: engine,
                arguments: submission.arguments(ofTask: index),
                allowed: allowed
            )
        }
        if submission.isBalanced {
            balance((0..<count).map { TaskID(first + UInt64($0)) }, retries: submission.retries, allowed: allowed)
        } else {
            for (index, target) in submission.targets.enumerated() { route(first + UInt64(index), to: target) }
        }
    }

    /// Hands load-balanced tasks, whose records hold their arguments, to the balancer; `allowed`
    /// names the engines that may run them (nil: any).
    private func balance(_ ids: [TaskID], retries: Int?, allowed: Set<Int32>? = nil) {
        if balancer.unfinishedCount == 0 { prefetchPolicy.jobStarted() }
        apply(balancer.handle(.prefetchChanged(prefetchPolicy.prefetch)))
        let engines = allowed.map { Set($0.map(EngineID.init)) }
        apply(balancer.handle(.submitted(ids, retries: retries, allowed: engines)))
    }

    // MARK: - Calls packed by the home engine

    /// `%apply`: each call's text goes to the home engine to be packed, as a task of its own that
    /// the client does not see; its reply goes on to a free engine from here (``relayPackedCall``).
    /// Before, the client waited for the packed call and sent it back: two more wake-ups per call.
    private func submitPackedAtHome(_ submission: Submission, first: UInt64, from peer: Peer) {
        let now = Clock.realtimeNanoseconds
        for index in 0..<submission.taskCount {
            let call = first + UInt64(index)
            records[call] = TaskRecord(
                owner: peer,
                request: first,
                op: submission.op.rawValue,
                isBalanced: true,
                submitted: now,
                storesInto: submission.storedAtHome.isEmpty
                    ? nil : Bytes(text: submission.storedAtHome.joined(separator: ","))
            )
            let pack = recordHomeTask(.packCall, submission.perTask[index], for: peer, request: first) {
                $0.packs = call
            }
            callsBeingPacked[call] = (pack, submission.retries)
            route(pack, to: EngineNumber.home)
        }
    }

    /// The home engine packed the call of task `call` (or failed to): the packed call becomes the
    /// task's arguments and the balancer places it; a failure (the function is not defined, an
    /// argument cannot be pickled, Ctrl-C, the home engine died) ends the task with that reply.
    func relayPackedCall(_ reply: Frame, from pack: UInt64, to call: UInt64) {
        records.removeValue(forKey: pack)
        let retries = callsBeingPacked.removeValue(forKey: call)?.retries
        guard var record = records[call] else { return }
        let isPacked =
            !reply.flags.contains(.failed) && reply.segments.count > 1 && reply.segments[1] == ReplyStatus.ok.segment
        guard isPacked else {
            var failure = reply
            failure.op = record.op
            failure.id = call
            return deliver(failure, of: call)
        }
        record.arguments = Array(reply.segments.dropFirst(2))
        record.ownsSharedMemory = true
        records[call] = record
        guard hasBalancedCapacity else { return failTask(call, .engineError(Controller.noEngineMessage)) }
        balance([TaskID(call)], retries: retries)
    }

    /// Queues a direct task on its engine, sending it at once if the engine is connected.
    private func route(_ task: UInt64, to target: Int32) {
        guard var slot = engines[target], slot.life.acceptsWork else {
            let reason = engines[target].map { "\($0.label) is dead" } ?? "there is no engine \(target)"
            return failTask(task, .engineError(reason))
        }
        slot.queue.append(task)
        slot.handle(.workQueued)
        engines[target] = slot
        if !slot.isHome { apply(balancer.handle(.directQueued(EngineID(target)))) }
        if slot.life.takesTasks, let peer = slot.connection, send(task, to: target, over: peer) {
            records[task]?.arguments = nil
        }
    }

    /// Sends task `task` to engine `engine`: the one place task frames are built. A direct task's
    /// arguments can go once sent; a balanced task keeps them, in case it must be retried.
    ///
    /// - Returns: false when the task has no record or no arguments left to send.
    @discardableResult
    func send(_ task: UInt64, to engine: Int32, over peer: Peer) -> Bool {
        guard let record = records[task], let arguments = record.arguments else { return false }
        // A remote engine cannot map this host's shared memory: such buffers go inline to it.
        let isRemote = engines[engine].map { !$0.isChild } ?? false
        let segments = isRemote ? arguments.map(SharedMemory.inlined) : arguments
        peer.connection.enqueue(Frame(kind: .task, op: record.op, engine: engine, id: task, segments: segments))
        return true
    }

    /// Applies the load balancer's decisions.
    func apply(_ actions: [LoadBalancer.Action]) {
        for action in actions {
            switch action {
            case .dispatch(let tasks, let engine):
                guard var slot = engines[engine.rawValue], slot.life.takesTasks, let peer = slot.connection else {
                    continue
                }
                for task in tasks where send(task.rawValue, to: engine.rawValue, over: peer) {
                    records[task.rawValue]?.engine = engine.rawValue
                    slot.queue.append(task.rawValue)
                }
                if !slot.queue.isEmpty { slot.handle(.workQueued) }
                engines[engine.rawValue] = slot
            case .retrying(let task, let engine):
                guard let record = records[task.rawValue], !record.owner.isClosed else { continue }
                releaseAnswer(record.request)  // the client must know the task's id first
                record.owner.connection.enqueue(
                    ClusterEvent.taskRetried(task: task.rawValue, engine: engine.rawValue).frame
                )
            case .failed(let task, let reason):
                switch reason {
                case .aborted:
                    failTask(task.rawValue, .aborted("the task was aborted before it started"))
                case .engineDied(let engine):
                    let label = engines[engine.rawValue]?.label ?? "engine \(engine)"
                    failTask(task.rawValue, .engineError("\(label) died while running the task"))
                }
            case .notAborted:
                break  // The abort request reports these itself.
            }
        }
    }

    /// Whether an engine runs, or will once it has (re)started, to take load-balanced work.
    var hasBalancedCapacity: Bool { hasBalancedCapacity(among: nil) }

    /// Whether one of `allowed` (nil: any engine) runs, or will once it has (re)started, to take
    /// load-balanced work.
    func hasBalancedCapacity(among allowed: Set<Int32>?) -> Bool {
        engines.values.contains { slot in
            !slot.isHome && slot.life.acceptsWork && (allowed?.contains(slot.id) ?? true)
        }
    }

    static let noEngineMessage = "no engine to run it (%add N starts engines)"

    /// Why a load-balanced task on `allowed` engines (nil: any) cannot run.
    static func noEngineMessage(among allowed: Set<Int32>?) -> String {
        guard let allowed else { return noEngineMessage }
        return "none of engines \(allowed.sorted().map(String.init).joined(separator: ", ")) is there to run it"
    }

    /// Fails the load-balanced tasks that wait for an engine when none they may run on is left.
    func failBalancedTasksIfNoEngine() {
        let hasAnyEngine = hasBalancedCapacity
        guard !hasAnyEngine || balancer.restrictedPendingCount > 0 else { return }
        let waiting = records.compactMap { entry -> UInt64? in
            let record = entry.value
            guard record.isBalanced, record.reply == nil else { return nil }
            let canRun = hasAnyEngine && (record.allowed.map { hasBalancedCapacity(among: $0) } ?? true)
            return canRun ? nil : entry.key
        }.sorted()
        guard !waiting.isEmpty else { return }
        for action in balancer.handle(.abortRequested(waiting.map(TaskID.init))) {
            if case .failed(let task, .aborted) = action {
                failTask(
                    task.rawValue,
                    .engineError(Controller.noEngineMessage(among: records[task.rawValue]?.allowed))
                )
            } else {
                apply([action])
            }
        }
    }

    /// Ctrl-C or `%abort` of tasks: those not started never run and end with `failure`; the running
    /// ones go on, or are interrupted if `interruptingRunning`.
    ///
    /// - Returns: the running tasks, with their engines.
    func cancel(
        _ tasks: [UInt64],
        interruptingRunning: Bool,
        failure: TaskFailureReply
    ) -> [(task: UInt64, engine: Int32)] {
        // A call still being packed is cancelled through its packing task on the home engine.
        let tasks = tasks.map { callsBeingPacked[$0]?.pack ?? $0 }
        // Pending load-balanced tasks first, so that the room freed below goes to no task of these.
        let balanced = tasks.filter { records[$0]?.isBalanced == true }
        if !balanced.isEmpty {
            for action in balancer.handle(.abortRequested(balanced.map(TaskID.init))) {
                if case .failed(let task, .aborted) = action {
                    failTask(task.rawValue, failure)
                } else {
                    apply([action])
                }
            }
        }
        var running: [(task: UInt64, engine: Int32)] = []
        for task in tasks {
            guard let record = records[task], record.reply == nil, let engine = record.engine,
                var slot = engines[engine], let position = slot.queue.firstIndex(of: task)
            else { continue }
            if position == 0 && slot.connection != nil {
                running.append((task, engine))
                if interruptingRunning { interruptRunningTask(task, on: engine) }
                continue
            }
            // Queued behind another task, or waiting for its engine to start: it never runs. The
            // engine, which may have it already, skips it.
            slot.queue.remove(at: position)
            if slot.queue.isEmpty && slot.connection != nil { slot.handle(.workDrained) }
            engines[engine] = slot
            slot.connection?.connection.enqueue(Frame(kind: .interrupt, engine: engine, id: task))
            if record.isBalanced {
                apply(balancer.handle(.finished([TaskID(task)], on: EngineID(engine))))
            } else if !slot.isHome {
                apply(balancer.handle(.directFinished(EngineID(engine))))
            }
            failTask(task, failure)
        }
        return running
    }

    /// SIGINT for `task`, which runs on engine `id`. The frame goes first: if the engine has yet to
    /// start the task, the frame stops it; the signal carries the task id, and the engine drops it
    /// if that task is not the one it runs.
    ///
    /// What the task started (`os.system`, a shell pipeline) gets a plain SIGINT too, as a
    /// terminal's Ctrl-C would reach it.
    func interruptRunningTask(_ task: UInt64, on id: Int32) {
        guard let slot = engines[id], slot.pid > 0, let peer = slot.connection else { return }
        peer.connection.enqueue(Frame(kind: .interrupt, engine: id, id: task))
        peer.connection.flush()
        // A remote engine signals itself when the frame arrives.
        guard slot.isChild else { return }
        Signals.interrupt(task: task, of: slot.pid)
        for child in ProcessTable.descendants(of: slot.pid) { kill(child, SIGINT) }
    }

    func engineReplied(_ frame: Frame, engine: Int32) {
        if frame.flags.contains(.outputPending) {
            // All of this task's output is in the pipes (written before the reply): read it now,
            // while the task still heads the queue, then let the engine go on.
            for (stream, descriptor) in engines[engine]?.outputs ?? [] {
                forwardOutput(of: engine, stream: stream, descriptor: descriptor, untilEmpty: true)
            }
            engines[engine]?.connection?.connection.enqueue(Frame(kind: .outputRead, engine: engine, id: frame.id))
        }
        // A task cancelled while queued was failed already; the engine only confirms it skipped it.
        guard var slot = engines[engine], let index = slot.queue.firstIndex(of: frame.id) else { return }
        slot.queue.remove(at: index)
        slot.lastTask = frame.id
        if slot.queue.isEmpty { slot.handle(.workDrained) }
        engines[engine] = slot
        guard let record = records[frame.id] else { return }
        if record.isBalanced {
            finishedBalancedTasks[engine, default: []].append(TaskID(frame.id))
            if let timing = frame.segments.first.flatMap(TaskTiming.init), timing.completed >= timing.started {
                prefetchPolicy.taskTook(timing.completed - timing.started)
            }
        } else if !slot.isHome {
            // A direct task finishing frees room: the balancer may send waiting tasks here.
            apply(balancer.handle(.directFinished(EngineID(engine))))
        }
        deliver(frame, of: frame.id)
    }

    /// Hands finished load-balanced tasks to the balancer once per turn, so refills go out in batches.
    func finishTurn() {
        guard !finishedBalancedTasks.isEmpty else { return }
        let finished = finishedBalancedTasks
        finishedBalancedTasks = [:]
        if prefetchPolicy.prefetch != balancer.configuration.prefetch {
            apply(balancer.handle(.prefetchChanged(prefetchPolicy.prefetch)))
        }
        for (engine, tasks) in finished {
            apply(balancer.handle(.finished(tasks, on: EngineID(engine))))
        }
    }

    func forwardStream(_ frame: Frame) {
        // What packing a call printed is dropped, as the home engine's output of magics is.
        guard let record = records[frame.id], !record.owner.isClosed, record.packs == nil else { return }
        send(frame, of: record, isReply: false)
    }

    /// Sends a reply to the task's client and drops the record; keeps it if the client is gone.
    func deliver(_ reply: Frame, of task: UInt64) {
        guard let record = records[task] else { return }
        if let call = record.packs { return relayPackedCall(reply, from: task, to: call) }
        if record.ownsSharedMemory { SharedMemory.release(record.arguments ?? []) }
        if !record.owner.isClosed {
            records.removeValue(forKey: task)
            if let call = record.storesValueOf {
                var stored = reply
                stored.id = call
                stored.flags.insert(.storedAtHome)
                return send(stored, of: record, isReply: true)
            }
            // The store goes to the home engine before the client has the reply: whatever the
            // client sends there next runs after it.
            if let names = record.storesInto { storeValue(of: task, reply, into: names, for: record.owner) }
            send(reply, of: record, isReply: true)
            return
        }
        records[task]?.reply = reply
        records[task]?.arguments = nil
        orphanedReplies.append(task)
        if orphanedReplies.count > Controller.maximumOrphanedRecords {
            let dropped = orphanedReplies.removeFirst()
            records.removeValue(forKey: dropped)
            log(
                "controller: dropped the unfetched result of task \(dropped) (over \(Controller.maximumOrphanedRecords) kept)"
            )
        }
    }

    /// Has the home engine store the value of `call`, from its successful reply, in local variables:
    /// the client's `%apply` then needs no request of its own for it. The store's reply goes to the
    /// client with the call's id (``FrameFlags/storedAtHome``); a failed call stores nothing.
    private func storeValue(of call: UInt64, _ reply: Frame, into names: Bytes, for owner: Peer) {
        guard !reply.flags.contains(.failed), reply.segments.count > 1, reply.segments[1] == ReplyStatus.ok.segment
        else { return }
        let arguments = [Bytes(text: "value"), names, Bytes(text: "1")] + reply.segments.dropFirst(3)
        let store = recordHomeTask(.collect, arguments, for: owner, request: nil) { $0.storesValueOf = call }
        route(store, to: EngineNumber.home)
    }

    /// Records a home-engine task that the controller runs for a client's call (packing it, storing
    /// its value), which the client never sees by its own id; returns that id, to route once the
    /// caller has noted it. `request` names a held answer to join; nil for none.
    private func recordHomeTask(
        _ op: EngineOp,
        _ arguments: [Bytes],
        for owner: Peer,
        request: UInt64?,
        _ configure: (inout TaskRecord) -> Void
    ) -> UInt64 {
        let id = nextTaskID
        nextTaskID += 1
        var record = TaskRecord(
            owner: owner,
            request: request ?? id,
            op: op.rawValue,
            isBalanced: false,
            submitted: Clock.realtimeNanoseconds,
            engine: EngineNumber.home,
            arguments: arguments
        )
        configure(&record)
        records[id] = record
        return id
    }

    /// Ends a task with a failure that Python did not raise: its engine died, or it was aborted.
    func failTask(_ task: UInt64, _ failure: TaskFailureReply) {
        guard let record = records[task] else { return }
        deliver(.failedReply(op: record.op, engine: record.engine ?? EngineNumber.none, task: task, failure), of: task)
    }
}
