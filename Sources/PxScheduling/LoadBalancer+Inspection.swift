import PxModel

// Read-only views of the load balancer for `%engines`, `%jobs` and tests. None of them changes
// the state, so the controller may call them at any time.

extension LoadBalancer {
    // MARK: - Engines

    /// The work an engine holds.
    public struct EngineLoad: Hashable, Sendable {
        /// Balanced tasks dispatched to the engine and not finished.
        public var balanced: Int

        /// Direct requests queued on the engine.
        public var direct: Int

        /// All the work the engine holds, the load that the scheduler compares.
        public var total: Int {
            self.balanced + self.direct
        }

        /// Creates a load.
        public init(balanced: Int, direct: Int) {
            self.balanced = balanced
            self.direct = direct
        }
    }

    /// The live engines, in id order.
    public var liveEngines: [EngineID] {
        self.engines.keys.sorted()
    }

    /// Whether the engine is live.
    public func isLive(_ engine: EngineID) -> Bool {
        self.engines[engine] != nil
    }

    /// The work the engine holds, or `nil` if the engine is not live.
    public func load(of engine: EngineID) -> EngineLoad? {
        guard let state = self.engines[engine] else { return nil }
        return EngineLoad(balanced: state.outstanding.count, direct: state.directLoad)
    }

    /// The balanced tasks dispatched to the engine and not finished, in dispatch order; empty if
    /// the engine is not live.
    public func outstandingTasks(on engine: EngineID) -> [TaskID] {
        self.engines[engine]?.outstanding ?? []
    }

    // MARK: - Tasks

    /// Where a task is, as far as the load balancer knows.
    public enum TaskLocation: Hashable, Sendable {
        /// Waiting for an engine.
        case pending
        /// Sent to this engine and not reported finished.
        case dispatched(EngineID)
        /// Not tracked: it ended (finished, failed or aborted) or was never submitted.
        case unknown
    }

    /// Where the task is.
    public func location(of task: TaskID) -> TaskLocation {
        switch self.tasks[task]?.placement {
        case .pending:
            .pending
        case .dispatched(let engine):
            .dispatched(engine)
        case nil:
            .unknown
        }
    }

    /// The number of tasks pending or dispatched: the tasks that have not ended.
    public var unfinishedCount: Int {
        self.tasks.count
    }

    /// The pending tasks in the order they will be dispatched.
    ///
    /// This walks the whole queue: use it to inspect, not on every event.
    public var pendingTasks: [TaskID] {
        var result: [TaskID] = []
        result.reserveCapacity(self.pendingCount)
        let restricted = self.restrictedQueues.values.joined().sorted { $0.ticket < $1.ticket }
        for entry in [restricted, Array(self.queue)].joined()
        where self.tasks[entry.task]?.placement == .pending(ticket: entry.ticket) {
            result.append(entry.task)
        }
        return result
    }
}
