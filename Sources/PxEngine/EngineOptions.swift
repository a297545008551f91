import PxSecurity

/// How the controller started this engine, or how it joins one over TCP.
public struct EngineOptions: Sendable {
    /// The controller's socket.
    public var socketPath: String
    public var id: Int32
    public var rank: Int
    public var size: Int
    /// The libpython to load, and the python executable it belongs to (which locates a venv).
    public var libraryPath: String
    public var programName: String
    /// Whether this is the home engine, which holds the local namespace.
    public var isHome: Bool
    /// Where the engine's own messages go; its stdout and stderr belong to the user's code.
    public var logPath: String?
    /// Set for an engine that joins over TCP (`pxsh engine --connection-file`): then the
    /// controller gives it its id, and its rank and size unless it asks for some (0 and -1 mean "any").
    public var connection: ConnectionFile?
    /// For `pxsh engine --connection-file F -n K` with K > 1: the rank each of the K engines asks for
    /// (-1 for any). This process then starts Python once and forks them (see ``HostZygote``).
    public var forkedRanks: [Int] = []
    /// Whether `rank` is the one mpiexec or srun gave this process (`MPI.COMM_WORLD.rank`), which
    /// the controller must never change.
    public var isRankFromLauncher = false
    /// Set for the zygote: it starts Python once and forks the engines that the controller asks
    /// for on its standard input (see ``Zygote``).
    public var isZygote = false

    public init(
        socketPath: String,
        id: Int32,
        rank: Int,
        size: Int,
        libraryPath: String,
        programName: String,
        isHome: Bool,
        logPath: String? = nil
    ) {
        self.logPath = logPath
        self.socketPath = socketPath
        self.id = id
        self.rank = rank
        self.size = size
        self.libraryPath = libraryPath
        self.programName = programName
        self.isHome = isHome
    }
}
