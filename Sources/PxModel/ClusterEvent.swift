/// Things the controller tells clients without being asked.
public enum ClusterEvent: Equatable, Sendable {
    /// An engine died; `cause` is like "signal 9" or "exit status 3". `isRestarting` says whether
    /// the controller is starting it again (tasks sent to it meanwhile wait for it).
    /// `host` names the host of a remote engine, which is reported "lost" rather than "died".
    case engineDied(engine: Int32, rank: Int, cause: String, isRestarting: Bool, host: String? = nil)
    /// An engine (re)started and is ready.
    case engineStarted(EngineStatus)
    /// An engine left the cluster because a client removed it (`%remove`).
    case engineRemoved(engine: Int32)
    /// A load-balanced task was re-queued after its engine died.
    case taskRetried(task: UInt64, engine: Int32)
    /// Anything else worth a line to the user.
    case notice(String)
}
