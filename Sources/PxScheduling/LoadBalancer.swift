@_exported import PxModel

/// The controller's scheduler for load-balanced tasks, as a pure state machine.
///
/// The controller owns one value, feeds it every event that matters to scheduling with
/// ``handle(_:)``, and applies the actions it returns: it sends tasks to engines and tells clients
/// about retries and failures. The load balancer does no I/O and reads no clock, so it is tested
/// as a plain value.
///
/// ```swift
/// var balancer = LoadBalancer()
/// balancer.handle(.engineJoined(EngineID(0)))            // []
/// balancer.handle(.submitted([TaskID(1), TaskID(2)]))    // [.dispatch([1, 2], to: 0)]
/// balancer.handle(.finished([TaskID(1)], on: EngineID(0)))
/// ```
///
/// ## Policy
///
/// - Each task goes to the live engine with the least *load*: its outstanding balanced tasks plus
///   the direct requests queued on it. Among equally loaded engines, the one that received a task
///   least recently wins (then the smallest id), so work rotates round-robin and the result is
///   deterministic.
/// - An engine receives balanced tasks only while its load is below
///   ``Configuration/prefetch``, so it never holds more than that many balanced tasks.
/// - Tasks are dispatched in the order they were submitted. With no capacity, or no live engine at
///   all, tasks wait; they never fail for want of an engine.
/// - A task may be restricted to some engines (a load-balanced view on a subset). It goes to the
///   least-loaded of those with room, and waits in a queue of its own meanwhile (one for each set of
///   engines), so that it holds back no task that another engine could run. Restricted tasks are
///   dispatched before the others, in queue order across the sets.
/// - When an engine leaves, its outstanding tasks go back to the front of the queue, in their
///   order, if they have retries left; otherwise they fail with
///   ``FailureReason/engineDied(_:)``.
/// - Aborting fails the pending tasks and leaves dispatched ones running.
///
/// After every event the load balancer is *work-conserving*: if a task is pending, every live
/// engine that may run it is at its prefetch limit.
///
/// ## Cost
///
/// Submitting, finishing and aborting a task cost O(1) amortized, plus O(engines) for each task
/// dispatched, to find the least-loaded engine. No event scans a pending queue: restricted tasks
/// cost O(sets × engines) per event while some wait, for the sets of engines they are restricted to
/// (one per load-balanced view on a subset, a handful). A task that ended is forgotten, so memory
/// is proportional to the tasks still pending or dispatched.
public struct LoadBalancer: Sendable {
    /// How the load balancer spreads and retries tasks.
    public private(set) var configuration: Configuration

    /// The number of tasks waiting for an engine.
    public private(set) var pendingCount = 0

    /// The live engines.
    private(set) var engines: [EngineID: EngineState] = [:]

    /// The tasks that are pending or dispatched.
    private(set) var tasks: [TaskID: TaskRecord] = [:]

    /// The pending tasks in dispatch order, mixed with tombstones of aborted ones.
    private(set) var queue = PendingQueue()

    /// The pending tasks that only some engines may run, a queue for each set of engines, each in
    /// dispatch order, with tombstones. Tickets order their entries across the queues.
    private(set) var restrictedQueues: [Set<EngineID>: PendingQueue] = [:]

    /// The number of pending tasks that only some engines may run (part of ``pendingCount``).
    public private(set) var restrictedPendingCount = 0

    /// The last ticket issued to an entry at the back of a queue. Entries put back at the front get
    /// tickets below every other (``frontTicket``), so that tickets order entries as one queue would:
    /// the restricted queues are dispatched in ticket order.
    private var lastTicket: UInt64 = 1 << 63

    /// The lowest ticket issued to an entry put back at the front of a queue.
    private var frontTicket: UInt64 = 1 << 63

    /// A logical clock that ticks once per dispatched task, to tell which engine got work last.
    private var dispatchClock: UInt64 = 0

    /// Tombstones are swept from the queue once they outnumber live entries by this margin, so
    /// that a few aborts never trigger a sweep of a large queue.
    private static let tombstoneSlack = 1024

    /// Tables up to this many entries are kept when they empty, so that a stream of small jobs
    /// does not reallocate them on every task.
    private static let retainedCapacity = 1024

    /// Creates a load balancer with no engines and no tasks.
    ///
    /// - Parameter configuration: The prefetch limit and the default retry budget.
    ///   `prefetch` must be at least 1 and `defaultRetries` at least 0.
    public init(configuration: Configuration = Configuration()) {
        precondition(configuration.prefetch >= 1, "prefetch must be at least 1, not \(configuration.prefetch)")
        precondition(
            configuration.defaultRetries >= 0,
            "defaultRetries must be at least 0, not \(configuration.defaultRetries)"
        )
        self.configuration = configuration
    }

    /// Updates the state for an event and returns what the controller must do.
    ///
    /// Apply the actions in order. They hold the notices first (retries, failures, tasks that
    /// could not be aborted), then at most one ``Action/dispatch(_:to:)`` per engine.
    ///
    /// Events that do not fit the state are ignored rather than trapping: finishing a task that
    /// is not tracked or not dispatched to that engine, submitting a task that is tracked already,
    /// joining a live engine, and reports about an engine that is not live. The controller sees
    /// such reports in ordinary races (a result that arrives from an engine being removed), and a
    /// scheduler that trapped on them would take the whole cluster down.
    ///
    /// - Parameter event: What the controller saw.
    /// - Returns: The actions to apply, possibly none.
    public mutating func handle(_ event: Event) -> [Action] {
        var actions = ActionBuffer()

        switch event {
        case .engineJoined(let engine):
            self.join(engine)
        case .engineLeft(let engine, let retrying):
            self.leave(engine, retrying: retrying, actions: &actions)
        case .submitted(let tasks, let retries, let allowed):
            self.submit(tasks, retries: retries ?? self.configuration.defaultRetries, allowed: allowed)
        case .finished(let tasks, let engine):
            self.finish(tasks, on: engine)
        case .directQueued(let engine):
            self.engines[engine]?.directLoad += 1
        case .directFinished(let engine):
            self.finishDirect(on: engine)
        case .abortRequested(let tasks):
            self.abort(tasks, actions: &actions)
        case .prefetchChanged(let prefetch):
            self.configuration.prefetch = max(1, prefetch)
        }

        // Every event ends here, whether or not it freed capacity, because that keeps the one
        // invariant the rest relies on: no task waits while an engine has room.
        self.dispatchPending(into: &actions)
        self.releaseMemoryIfDrained()
        return actions.build()
    }
}

// MARK: - Engines

extension LoadBalancer {
    private mutating func join(_ engine: EngineID) {
        guard self.engines[engine] == nil else { return }
        self.engines[engine] = EngineState()
    }

    private mutating func leave(_ engine: EngineID, retrying: Bool, actions: inout ActionBuffer) {
        guard let state = self.engines.removeValue(forKey: engine) else { return }

        var retried: [TaskID] = []
        for task in state.outstanding {
            guard let index = self.tasks.index(forKey: task) else {
                assertionFailure("engine \(engine) holds task \(task), which is not tracked")
                continue
            }
            if retrying, self.tasks.values[index].retriesLeft > 0 {
                self.tasks.values[index].retriesLeft -= 1
                retried.append(task)
                actions.notify(.retrying(task, after: engine))
            } else {
                self.tasks.remove(at: index)
                actions.notify(.failed(task, .engineDied(engine)))
            }
        }

        // At the front: these tasks were the next to run, and a client waiting on them has
        // waited longest. Their tickets come below every other, the first's lowest.
        self.frontTicket -= UInt64(retried.count)
        var requeued: [PendingQueue.Entry] = []
        var requeuedRestricted: [Set<EngineID>: [PendingQueue.Entry]] = [:]
        for (offset, task) in retried.enumerated() {
            let entry = PendingQueue.Entry(task: task, ticket: self.frontTicket + UInt64(offset))
            self.tasks[task]!.placement = .pending(ticket: entry.ticket)
            if let allowed = self.tasks[task]!.allowed {
                requeuedRestricted[allowed, default: []].append(entry)
                self.restrictedPendingCount += 1
            } else {
                requeued.append(entry)
            }
        }
        self.queue.prepend(contentsOf: requeued)
        for (allowed, entries) in requeuedRestricted {
            self.restrictedQueues[allowed, default: PendingQueue()].prepend(contentsOf: entries)
        }
        self.pendingCount += retried.count
    }

    private mutating func finishDirect(on engine: EngineID) {
        guard let index = self.engines.index(forKey: engine), self.engines.values[index].directLoad > 0 else {
            return
        }
        self.engines.values[index].directLoad -= 1
    }
}

// MARK: - Tasks

extension LoadBalancer {
    private mutating func submit(_ newTasks: [TaskID], retries: Int, allowed: Set<EngineID>?) {
        let retries = Swift.max(0, retries)
        // A `%map` submits thousands of tasks at once: grow the tables once, not log(n) times.
        self.tasks.reserveCapacity(self.tasks.count + newTasks.count)
        if allowed == nil {
            self.queue.reserveCapacity(self.queue.count + newTasks.count)
        }

        for task in newTasks where self.tasks[task] == nil {
            let ticket = self.issueTicket()
            self.tasks[task] = TaskRecord(placement: .pending(ticket: ticket), retriesLeft: retries, allowed: allowed)
            if let allowed {
                self.restrictedQueues[allowed, default: PendingQueue()].append(
                    PendingQueue.Entry(task: task, ticket: ticket)
                )
                self.restrictedPendingCount += 1
            } else {
                self.queue.append(PendingQueue.Entry(task: task, ticket: ticket))
            }
            self.pendingCount += 1
        }
    }

    private mutating func finish(_ finishedTasks: [TaskID], on engine: EngineID) {
        guard let engineIndex = self.engines.index(forKey: engine) else { return }

        for task in finishedTasks {
            guard let index = self.tasks.index(forKey: task),
                self.tasks.values[index].placement == .dispatched(engine)
            else { continue }
            self.tasks.remove(at: index)
            self.engines.values[engineIndex].removeOutstanding(task)
        }
    }

    private mutating func abort(_ abortedTasks: [TaskID], actions: inout ActionBuffer) {
        var running: [TaskID] = []
        for task in abortedTasks {
            guard let index = self.tasks.index(forKey: task) else { continue }
            switch self.tasks.values[index].placement {
            case .pending:
                // The queue entry stays behind as a tombstone: finding it would cost O(pending).
                if self.tasks.values[index].allowed != nil {
                    self.restrictedPendingCount -= 1
                }
                self.tasks.remove(at: index)
                self.pendingCount -= 1
                actions.notify(.failed(task, .aborted))
            case .dispatched:
                // Asked to stop: if its engine is killed for it, it must not run again elsewhere.
                self.tasks.values[index].retriesLeft = 0
                running.append(task)
            }
        }
        if !running.isEmpty {
            actions.notify(.notAborted(running))
        }

        let unrestricted = self.pendingCount - self.restrictedPendingCount
        if self.queue.count - unrestricted > unrestricted + Self.tombstoneSlack {
            Self.sweepTombstones(in: &self.queue, tasks: self.tasks)
        }
        let restrictedEntries = self.restrictedQueues.values.reduce(0) { $0 + $1.count }
        if restrictedEntries - self.restrictedPendingCount > self.restrictedPendingCount + Self.tombstoneSlack {
            for allowed in Array(self.restrictedQueues.keys) {
                Self.sweepTombstones(in: &self.restrictedQueues[allowed]!, tasks: self.tasks)
            }
        }
    }
}

// MARK: - Dispatching

extension LoadBalancer {
    /// Sends pending tasks, in queue order, to the least-loaded engines until the queue is empty
    /// or every engine is at its prefetch limit; restricted tasks first, each to one of its engines.
    private mutating func dispatchPending(into actions: inout ActionBuffer) {
        if self.restrictedPendingCount > 0 {
            self.dispatchRestricted(into: &actions)
        }
        while self.pendingCount > self.restrictedPendingCount, let engineIndex = self.leastLoadedEngine() {
            let engine = self.engines.keys[engineIndex]
            guard let task = self.popPending(dispatchingTo: engine) else { break }
            self.recordDispatch(of: task, to: engineIndex, into: &actions)
        }
    }

    /// Sends the restricted tasks that can go, in queue order (ticket order across the sets of
    /// engines), each to the least-loaded of its engines with room; the others keep their place.
    ///
    /// The tasks of one queue may all run on the same engines: while the first cannot go, none of
    /// the others can, and as dispatching only takes room, it stays so for the rest of the pass. So
    /// only the first task of each queue is looked at, not the tasks that wait behind it.
    private mutating func dispatchRestricted(into actions: inout ActionBuffer) {
        guard self.leastLoadedEngine() != nil else { return }  // No room anywhere: nothing can go.
        var open = Array(self.restrictedQueues.keys)
        while true {
            var next: (allowed: Set<EngineID>, entry: PendingQueue.Entry, engine: EngineIndex)?
            var stillOpen: [Set<EngineID>] = []
            for allowed in open {
                guard let entry = self.firstPending(restrictedTo: allowed),
                    let engine = self.leastLoadedEngine(among: allowed)
                else { continue }
                stillOpen.append(allowed)
                if next.map({ entry.ticket < $0.entry.ticket }) ?? true { next = (allowed, entry, engine) }
            }
            guard let next else { return }
            open = stillOpen
            _ = self.restrictedQueues[next.allowed]!.popFirst()
            self.tasks[next.entry.task]!.placement = .dispatched(self.engines.keys[next.engine])
            self.pendingCount -= 1
            self.restrictedPendingCount -= 1
            self.recordDispatch(of: next.entry.task, to: next.engine, into: &actions)
        }
    }

    /// The first live entry of the queue of tasks restricted to `allowed`, once the tombstones before
    /// it are dropped; nil (and the queue gone) when it holds no live entry.
    private mutating func firstPending(restrictedTo allowed: Set<EngineID>) -> PendingQueue.Entry? {
        while let entry = self.restrictedQueues[allowed]?.first {
            if self.tasks[entry.task]?.placement == .pending(ticket: entry.ticket) { return entry }
            _ = self.restrictedQueues[allowed]!.popFirst()
        }
        self.restrictedQueues[allowed] = nil
        return nil
    }

    typealias EngineIndex = Dictionary<EngineID, EngineState>.Index

    private mutating func recordDispatch(
        of task: TaskID,
        to engineIndex: EngineIndex,
        into actions: inout ActionBuffer
    ) {
        self.dispatchClock += 1
        self.engines.values[engineIndex].outstanding.append(task)
        self.engines.values[engineIndex].lastDispatch = self.dispatchClock
        actions.dispatch(task, to: self.engines.keys[engineIndex])
    }

    /// The engine that should receive the next task, or `nil` if every engine is at its limit.
    ///
    /// A linear scan: clusters have tens of engines, and a heap would have to be updated on every
    /// finish and direct report for no gain at that size.
    private func leastLoadedEngine(among allowed: Set<EngineID>? = nil) -> EngineIndex? {
        var best: (index: EngineIndex, load: Int, lastDispatch: UInt64, id: EngineID)?
        for index in self.engines.indices {
            let (id, state) = self.engines[index]
            if let allowed, !allowed.contains(id) { continue }
            let load = state.load
            guard load < self.configuration.prefetch else { continue }
            if let current = best, (current.load, current.lastDispatch, current.id) < (load, state.lastDispatch, id) {
                continue
            }
            best = (index, load, state.lastDispatch, id)
        }
        return best?.index
    }

    /// Removes the first live task from the queue, skipping tombstones, and marks it dispatched.
    private mutating func popPending(dispatchingTo engine: EngineID) -> TaskID? {
        while let entry = self.queue.popFirst() {
            guard let index = self.tasks.index(forKey: entry.task),
                self.tasks.values[index].placement == .pending(ticket: entry.ticket)
            else { continue }
            self.tasks.values[index].placement = .dispatched(engine)
            self.pendingCount -= 1
            return entry.task
        }
        assertionFailure("\(self.pendingCount - self.restrictedPendingCount) tasks pend but the queue holds none")
        self.pendingCount = self.restrictedPendingCount
        return nil
    }
}

// MARK: - Housekeeping

extension LoadBalancer {
    private mutating func issueTicket() -> UInt64 {
        self.lastTicket += 1
        return self.lastTicket
    }

    /// Removes the entries of aborted tasks (whose `tasks` record is gone or holds another ticket)
    /// from `queue`.
    private static func sweepTombstones(in queue: inout PendingQueue, tasks: [TaskID: TaskRecord]) {
        queue.removeAll { entry in
            tasks[entry.task]?.placement != .pending(ticket: entry.ticket)
        }
    }

    /// Gives back the memory of a large job once it is over.
    ///
    /// Dictionaries and the queue never shrink by themselves, so after a `%map` of a million tasks
    /// they would keep tens of megabytes for the life of the cluster.
    private mutating func releaseMemoryIfDrained() {
        if self.pendingCount == self.restrictedPendingCount,
            !self.queue.isEmpty || self.queue.capacity > Self.retainedCapacity
        {
            // Only tombstones are left, if anything.
            self.queue.removeAll()
        }
        if self.restrictedPendingCount == 0, !self.restrictedQueues.isEmpty {
            self.restrictedQueues = [:]
        }
        if self.tasks.isEmpty, self.tasks.capacity > Self.retainedCapacity {
            self.tasks = [:]
        }
    }
}
