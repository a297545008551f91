import PxModel

// The load balancer's private bookkeeping: what it knows about each engine and each task, and
// the buffer that collects the actions of one event.

extension LoadBalancer {
    // MARK: - Engines

    /// What the load balancer knows about one live engine.
    struct EngineState {
        /// The balanced tasks dispatched to the engine and not finished, in dispatch order.
        ///
        /// Dispatch order is the order in which the tasks go back to the front of the queue if the
        /// engine dies. The array holds at most `prefetch` tasks, a handful, so the linear search
        /// when one finishes (nearly always the first) is cheaper than hashing.
        var outstanding: [TaskID] = []

        /// Direct requests queued on the engine, as reported by the controller.
        var directLoad = 0

        /// The value of the dispatch clock when the engine last received a balanced task; zero if
        /// it never has.
        ///
        /// Among engines with the same load the one that received work least recently wins, which
        /// rotates work round-robin and favours the engine that has been idle longest.
        var lastDispatch: UInt64 = 0

        /// The work the engine has: balanced tasks plus direct requests.
        var load: Int {
            self.outstanding.count + self.directLoad
        }

        /// Forgets a finished task.
        mutating func removeOutstanding(_ task: TaskID) {
            guard let index = self.outstanding.firstIndex(of: task) else {
                assertionFailure("task \(task) is dispatched to an engine that does not hold it")
                return
            }
            self.outstanding.remove(at: index)
        }
    }

    // MARK: - Tasks

    /// What the load balancer knows about one task it tracks, pending or dispatched.
    ///
    /// A task that ended (finished, failed, aborted) has no record: forgetting it is what keeps
    /// memory bounded, and what makes late reports about it harmless.
    struct TaskRecord {
        /// Where a tracked task is.
        enum Placement: Hashable {
            /// Waiting in the queue, in the entry that holds this ticket.
            case pending(ticket: UInt64)
            /// Sent to this engine and not yet reported finished.
            case dispatched(EngineID)
        }

        /// Where the task is.
        var placement: Placement

        /// How many more times the task may be re-queued after losing its engine.
        var retriesLeft: Int

        /// The engines that may run the task; nil for any. Such a task waits in the queue of
        /// restricted tasks.
        var allowed: Set<EngineID>? = nil
    }

    // MARK: - Actions

    /// Collects the actions of one event: notices in order, and the dispatches grouped by engine.
    struct ActionBuffer {
        /// Retry, failure and abort notices, in the order their tasks were met.
        private var notices: [Action] = []

        /// The tasks dispatched to each engine, engines in the order they first received one.
        ///
        /// A list rather than a dictionary: it holds at most one entry per engine, and an event
        /// usually dispatches to one engine.
        private var dispatches: [(engine: EngineID, tasks: [TaskID])] = []

        /// Adds a notice.
        mutating func notify(_ action: Action) {
            self.notices.append(action)
        }

        /// Adds a task to the engine's dispatch, after the tasks already dispatched to it.
        mutating func dispatch(_ task: TaskID, to engine: EngineID) {
            if let index = self.dispatches.firstIndex(where: { $0.engine == engine }) {
                self.dispatches[index].tasks.append(task)
            } else {
                self.dispatches.append((engine, [task]))
            }
        }

        /// The actions: notices first, then one dispatch per engine.
        func build() -> [Action] {
            guard !self.dispatches.isEmpty else { return self.notices }
            var actions = self.notices
            actions.reserveCapacity(self.notices.count + self.dispatches.count)
            for dispatch in self.dispatches {
                actions.append(.dispatch(dispatch.tasks, to: dispatch.engine))
            }
            return actions
        }
    }
}
