import PxModel

extension LoadBalancer {
    /// Something the controller must do in response to an event.
    ///
    /// The actions of one event come in two groups. First the notices (``retrying(_:after:)``,
    /// ``failed(_:_:)``, ``notAborted(_:)``), in the order their tasks were met; then the
    /// ``dispatch(_:to:)`` actions, one per engine, so that the controller writes one batch of
    /// frames per engine. A retried task's notice therefore comes before its new dispatch.
    public enum Action: Hashable, Sendable {
        /// Send these tasks to the engine, in this order.
        ///
        /// The tasks stay dispatched to the engine until they are reported with
        /// ``Event/finished(_:on:)`` or the engine leaves.
        case dispatch([TaskID], to: EngineID)

        /// Tell the client that the task is running again because its engine was lost, as in
        /// "task 7 retried after engine 2 died". The task is pending again, or dispatched to
        /// another engine by a ``dispatch(_:to:)`` of the same event.
        case retrying(TaskID, after: EngineID)

        /// Fail the task: the load balancer no longer tracks it.
        case failed(TaskID, FailureReason)

        /// These tasks of an abort request were already dispatched and keep running, so the
        /// client can say "3 tasks were already running". Absent when there are none.
        case notAborted([TaskID])
    }

    /// Why the load balancer gave up on a task.
    public enum FailureReason: Hashable, Sendable {
        /// The engine running the task died or was removed, and the task had no retry left.
        case engineDied(EngineID)

        /// The task was aborted before any engine took it.
        case aborted
    }
}

// MARK: - CustomStringConvertible

extension LoadBalancer.FailureReason: CustomStringConvertible {
    public var description: String {
        switch self {
        case .engineDied(let engine):
            "engine \(engine) died"
        case .aborted:
            "aborted"
        }
    }
}
