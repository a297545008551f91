import PxPlatform
import PxWire

#if canImport(Glibc)
import Glibc
#endif

/// What the controller knows of one engine: its process, its connection and its queue of tasks.
struct EngineSlot {
    /// Why the controller itself ended an engine.
    enum ExitPlan {
        case restart, remove
    }

    let id: Int32
    /// 0..size-1 over the engines; renumbered when engines come or go (see ``Controller/renumberRanks()``).
    var rank: Int
    var pid: pid_t
    var connection: Peer?
    var state: EngineRow.State = .starting
    var since: UInt64
    /// Tasks sent to the engine (or waiting for it to connect), oldest first; the first is running.
    var queue: [UInt64] = []
    /// The read ends of the engine's stdout and stderr pipes, until they close.
    var outputs: [(stream: OutputStream, descriptor: FileDescriptor)] = []
    /// The task that last finished, which output written after its reply belongs to.
    var lastTask: UInt64?
    var hasEverConnected = false
    /// The connection closed and the process is yet to be reaped.
    var lostAt: UInt64?
    var isReaped = false
    var exitPlan: ExitPlan?
    /// When an engine asked to exit is killed if it has not (monotonic nanoseconds).
    var killDeadline: UInt64?

    init(id: Int32, rank: Int, pid: pid_t, since: UInt64) {
        self.id = id
        self.rank = rank
        self.pid = pid
        self.since = since
    }

    /// Whether the poll loop should look for the process's exit: it is gone or has yet to connect.
    var needsReaping: Bool { !isReaped && (lostAt != nil || !hasEverConnected || killDeadline != nil) }

    var isHome: Bool { id == EngineNumber.home }

    /// "engine 2 (rank 2)", or "the home engine".
    var label: String { isHome ? "the home engine" : "engine \(id) (rank \(rank))" }
}

/// A task from submission until its client has its reply.
struct TaskRecord {
    let owner: Peer
    /// The first task of the request it belongs to, which names the request's held answer.
    let request: UInt64
    let op: UInt8
    let isBalanced: Bool
    let submitted: UInt64
    var engine: Int32?
    /// Kept until the task is sent; for load-balanced tasks, until it ends, in case it must be retried.
    var arguments: [Bytes]?
    /// A reply that could not be delivered because the client went away.
    var reply: Frame?
}
