/// One engine as the controller sees it: a row of `%engines`.
public struct EngineStatus: Equatable, Sendable {
    public enum State: String, Sendable {
        case starting, idle, busy, dead
    }

    public var id: Int32
    public var rank: Int
    public var pid: Int32
    public var state: State
    /// When the engine entered its state, in real-time nanoseconds.
    public var since: UInt64
    /// Tasks sent to it and not finished, the running one included.
    public var queued: Int
    /// Resident memory in bytes; -1 when unknown.
    public var residentBytes: Int64
    /// Where it runs: "local" for the controller's own children, else the address it joined from.
    public var host: String
    /// Whether the controller can start it again (`%restart`, a second Ctrl-C): not a rank of an
    /// mpiexec or srun job, nor an engine that joined by hand.
    public var canRestart: Bool

    public init(
        id: Int32,
        rank: Int,
        pid: Int32,
        state: State,
        since: UInt64,
        queued: Int,
        residentBytes: Int64,
        host: String = "local",
        canRestart: Bool = true
    ) {
        self.host = host
        self.canRestart = canRestart
        self.id = id
        self.rank = rank
        self.pid = pid
        self.state = state
        self.since = since
        self.queued = queued
        self.residentBytes = residentBytes
    }
}
