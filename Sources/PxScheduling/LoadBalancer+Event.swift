import PxModel

extension LoadBalancer {
    /// Something the controller saw that matters to scheduling.
    ///
    /// Events that do not fit the current state — a task that is not tracked, an engine that is
    /// not live, a second join — are ignored, so that a late or repeated report cannot corrupt the
    /// counts. See ``LoadBalancer/handle(_:)``.
    public enum Event: Hashable, Sendable {
        /// An engine is ready for work: it started, restarted, or was added with `%add`.
        ///
        /// A restarted engine must be reported as ``engineLeft(_:)`` first; joining an engine that
        /// is already live is ignored.
        case engineJoined(EngineID)

        /// An engine is gone: it died or was removed with `%remove`.
        ///
        /// Its balanced tasks are retried on other engines or fail, and the direct requests that
        /// were queued on it no longer count: the controller fails those itself. With `retrying`
        /// false (the user restarted it: the tasks are what it was stopped for), they fail.
        case engineLeft(EngineID, retrying: Bool = true)

        /// Load-balanced tasks were submitted, in the order they should start.
        ///
        /// A `%map` submits all its tasks in one event. `retries` overrides
        /// ``Configuration/defaultRetries`` for these tasks (`%map --retries R`); a negative
        /// value means no retry. `allowed` names the engines that may run them (a load-balanced
        /// view on some engines); nil means any.
        case submitted([TaskID], retries: Int? = nil, allowed: Set<EngineID>? = nil)

        /// Balanced tasks finished on an engine, successfully or with a Python exception.
        ///
        /// The engine is the one whose connection carried the results. A report for a task that
        /// is not dispatched to that engine is stale (the engine was removed and the task was
        /// retried elsewhere, say) and is ignored.
        case finished([TaskID], on: EngineID)

        /// A direct request (`%px`, push, pull, …) was queued on an engine, so it is busier.
        case directQueued(EngineID)

        /// A direct request that was reported with ``directQueued(_:)`` finished on an engine.
        case directFinished(EngineID)

        /// The client asked to abort these tasks, usually the tasks of one AsyncResult.
        ///
        /// Pending tasks fail with ``FailureReason/aborted``. Dispatched tasks keep running and
        /// are reported with ``Action/notAborted(_:)``; they are not retried if their engine goes. Ids that are not tracked (they already
        /// ended) are ignored.
        case abortRequested([TaskID])

        /// The controller changed how much work an engine may hold: more for tiny tasks, where a
        /// round trip would idle the engine, less for long ones, where a prefetched task could wait
        /// behind a long one while another engine idles. Raising it dispatches at once.
        case prefetchChanged(Int)
    }
}
