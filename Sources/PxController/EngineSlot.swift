import PxPlatform
import PxScheduling
import PxWire

#if canImport(Glibc)
import Glibc
#endif

/// What the controller knows of one engine: its life (``EngineLife``), its process, its connection
/// and its queue of tasks.
struct EngineSlot {
    /// Why the controller itself ends an engine.
    enum ExitPlan {
        case restart, remove
    }

    let id: Int32
    /// 0..size-1 over the engines; renumbered when engines come or go (see ``Controller/renumberRanks()``).
    var rank: Int
    /// The engine's pid: on this host for a child, on its own host for a remote engine (shown, never signalled).
    var pid: pid_t
    var life: EngineLife
    var connection: Peer?
    /// When the engine entered its state, in real-time nanoseconds.
    var since: UInt64
    /// Tasks sent to the engine (or waiting for it to connect), oldest first; the first is running.
    var queue: [UInt64] = []
    /// The read ends of a child's stdout and stderr pipes, until they close.
    var outputs: [(stream: OutputStream, descriptor: FileDescriptor)] = []
    /// The task that last finished, which output written after its reply belongs to.
    var lastTask: UInt64?
    /// When a child's connection closed (monotonic), while its exit is awaited.
    var lostAt: UInt64?
    /// When an engine asked to exit is killed if it has not (monotonic nanoseconds).
    var killDeadline: UInt64?
    /// The rank a remote engine asked for when it joined, which names the launcher job that started
    /// it (`rank` may change since).
    var launcherRank: Int?
    /// Whether its rank is the one mpiexec or srun gave it (`MPI.COMM_WORLD.rank`): it never changes.
    var keepsRank = false
    /// The rank and size the welcome gave a remote engine that joined without a size: out of date
    /// when it takes tasks if others joined or left while it registered (their settling skipped it).
    var welcomed: (rank: Int, size: Int)?

    init(
        id: Int32,
        rank: Int,
        pid: pid_t,
        since: UInt64,
        origin: EngineLife.Origin = .child,
        isRelaunchable: Bool = false,
        isLaunching: Bool = false
    ) {
        self.id = id
        self.rank = rank
        self.pid = pid
        self.since = since
        self.life = EngineLife(origin: origin, isRelaunchable: isRelaunchable, isLaunching: isLaunching)
    }

    /// Applies an event to the engine's life, and stamps the time when its state changes.
    mutating func handle(_ event: EngineLife.Event) {
        let before = life.state
        life.handle(event)
        if life.state != before { since = Clock.realtimeNanoseconds }
    }

    /// A process of this host that the controller may signal and reap.
    var isChild: Bool { life.origin == .child && pid > 0 }

    /// Whether the poll loop should look for the process's exit: it is gone or has yet to connect.
    var needsReaping: Bool { isChild && (life.needsReaping || killDeadline != nil) }

    var isHome: Bool { id == EngineNumber.home }

    /// "engine 2 (rank 2)", "engine 3 (rank 3, host 10.1.0.2)", or "the home engine".
    var label: String {
        if isHome { return "the home engine" }
        if let host = life.host { return "engine \(id) (rank \(rank), host \(host))" }
        return "engine \(id) (rank \(rank))"
    }

    /// The state as `%engines` shows it.
    var rowState: EngineStatus.State {
        switch life.state {
        case .launching, .registering, .restarting: .starting
        case .idle: .idle
        case .busy: .busy
        case .lost, .dead: .dead
        }
    }
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
    /// For a home-engine task that packs the call of a load-balanced `apply`: that task, which
    /// its reply becomes the arguments of (see ``Controller/relayPackedCall(_:from:to:)``).
    var packs: UInt64? = nil
    /// For a load-balanced `apply` whose value goes home: the local variables (comma-separated)
    /// that the home engine stores it in once the call has it (``FrameFlags/storedAtHome``).
    var storesInto: Bytes? = nil
    /// For a home-engine task that stores such a value: the call, whose id its reply goes with.
    var storesValueOf: UInt64? = nil
    /// Whether the shared-memory files its arguments name were made for it alone (a call packed
    /// by the home engine for it): they are removed once it ends.
    var ownsSharedMemory = false
    /// The engines that may run a load-balanced task; nil for any.
    var allowed: Set<Int32>? = nil
}
