import ArgumentParser
import PxClient
import PxController
import PxEngine
import PxLaunch
import PxPlatform
import PxSecurity

#if canImport(Glibc)
import Glibc
#endif

/// `pxsh engine`: an engine. With `--connection-file` it joins a cluster over TCP (any launcher, or a
/// person, adds engines this way); without it, it is the controller's own child (hidden options).
struct EngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Run an engine that joins a cluster over TCP.",
        discussion: """
            The connection file comes from `pxsh cluster connection --name NAME` on the controller's host. \
            It holds the cluster's key: pass it as a file only you can read, or on standard input \
            (`--connection-file -`, as `ssh host pxsh engine --connection-file - < conn.json`), never \
            on a command line or in the environment. The engine exits when its controller goes away \
            (at once if the connection closes, within 10 s if it falls silent). If it cannot reach the \
            controller, or is refused, it exits with status 1 and a one-line reason on stderr. \
            SIGTERM or SIGHUP ends it as `pxsh cluster stop` would (a running task is interrupted, \
            atexit handlers run, files are flushed); so does Ctrl-C (SIGINT) while it is idle, while \
            Ctrl-C during a task interrupts the task.

            With -n K, one process starts Python once and forks K engines (the ssh launcher starts one \
            such process per host). It passes SIGTERM, SIGINT and SIGHUP on to them, exits when they \
            all have (status 1, with each reason once, if any failed), and they die with it. mpiexec \
            and srun keep one process per rank, as MPI needs.
            """
    )

    @Option(
        name: .customLong("connection-file"),
        help: ArgumentHelp("The cluster's connection file (JSON), or - for standard input.", valueName: "FILE|-")
    )
    var connectionFile: String?
    @Option(help: "The python the engine runs (a venv's python works).") var python = "python3"
    @Option(
        help: """
            Ask for this rank; kept if no live engine has it and it is below the number of engines, else \
            the lowest free one (the engine then keeps R as its id). Default: the rank mpiexec or srun gave \
            (PMI_RANK, OMPI_COMM_WORLD_RANK, SLURM_PROCID in a step), else the next free one.
            """
    )
    var rank: Int?
    @Option(help: "The `size` the engine's namespace sees. Default: the number of engines once it has joined.")
    var size: Int?
    @Option(
        name: [.customShort("n"), .customLong("engines")],
        help: ArgumentHelp(
            """
            Start this many engines on this host from one Python start: Python and the runtime load once, \
            then each engine is forked, joins and serves as one started alone (they share memory and start \
            faster). With --rank R they ask for ranks R...R+K-1. Not under mpiexec or srun, which start one \
            process per rank.
            """,
            valueName: "K"
        )
    )
    var engines = 1
    @Option(help: "Write the engine's own messages here instead of stderr.") var log: String?

    @Option(help: .hidden) var socket: String?
    @Option(help: .hidden) var id: Int32?
    @Option(help: .hidden) var libpython: String?
    @Option(name: .customLong("program-name"), help: .hidden) var programName: String?
    @Flag(help: .hidden) var home = false
    @Flag(help: .hidden) var zygote = false

    func validate() throws {
        if engines < 1 || engines > 256 { throw ValidationError("-n must be 1 to 256") }
        if engines > 1 && connectionFile == nil { throw ValidationError("-n needs --connection-file") }
        if zygote && (socket == nil || libpython == nil) { throw ValidationError("missing --socket or --libpython") }
        if connectionFile == nil && !zygote
            && (socket == nil || id == nil || rank == nil || size == nil || libpython == nil)
        {
            throw ValidationError("missing --connection-file FILE")
        }
    }

    func run() throws {
        if let connectionFile { try join(connectionFile) }
        var options = EngineOptions(
            socketPath: socket ?? "",
            id: id ?? 0,
            rank: rank ?? 0,
            size: size ?? 0,
            libraryPath: libpython ?? "",
            programName: programName ?? python,
            isHome: home,
            logPath: log
        )
        options.isZygote = zygote
        Engine.run(options)
    }

    private func join(_ path: String) throws -> Never {
        func fail(_ reason: String) -> Never {
            try? FileDescriptor.standardError.writeAll("pxsh engine: \(reason)\n")
            Glibc.exit(1)
        }
        let bytes: [UInt8]
        do {
            bytes = try path == "-" ? FileDescriptor.standardInput.readToEnd() : FileDescriptor.readAll(path)
        } catch {
            fail("cannot read the connection file \(path): \(error)")
        }
        let connection: ConnectionFile
        do { connection = try ConnectionFile(json: bytes) } catch { fail("\(path): \(error)") }
        let installation: PythonInstallation
        do { installation = try PythonInstallation.locate(python) } catch { fail("\(error)") }
        // Started by mpiexec or srun: the rank it gave (MPI.COMM_WORLD.rank, SLURM_PROCID).
        let launched = LaunchedRank.fromProcessEnvironment()
        if engines > 1, rank == nil, let launched {
            fail(
                "-n \(engines): \(launched.source) says \(launched.rank) is this process's MPI or Slurm rank; mpiexec "
                    + "and srun start one process per rank (MPI needs it): give them -n instead"
            )
        }
        var options = EngineOptions(
            socketPath: "",
            id: 0,
            rank: rank ?? launched?.rank ?? -1,
            size: size ?? launched?.size ?? 0,
            libraryPath: installation.libraryPath,
            programName: installation.executable,
            isHome: false,
            logPath: log
        )
        options.connection = connection
        options.isRankFromLauncher = rank == nil && launched != nil
        if engines > 1 { options.forkedRanks = LaunchPlan.hostRanks(first: rank, count: engines) }
        Engine.run(options)
    }
}

/// `pxsh controller`: the controller of one cluster, started by `pxsh` or `pxsh cluster start`. Hidden from help.
struct ControllerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Run a cluster's controller.",
        shouldDisplay: false
    )

    @Option var directory: String
    @Option var engines: Int
    @Option var python: String
    @Option var libpython: String
    @Option var name: String?
    @Flag(name: .customLong("listener-on-stdin"), help: "fd 0 is the listening socket, already bound.")
    var listenerOnStdin = false
    @Option(help: "Also accept engines over TCP at this address.") var ip: String?
    @Option(help: "The TCP port (0: a free one).") var port = 0
    @Option(help: "The address engines connect to, written in the connection file.") var location: String?
    @OptionGroup var launch: LauncherOptions

    func run() throws {
        var options = ControllerOptions(
            directory: directory,
            engineCount: engines,
            pythonExecutable: python,
            libraryPath: libpython,
            name: name,
            inheritedListener: listenerOnStdin ? .standardInput : nil
        )
        options.tcpAddress = ip
        options.tcpPort = port
        options.tcpLocation = location
        options.launch = try launch.settings()
        var zygote = EngineOptions(
            socketPath: options.socketPath,
            id: 0,
            rank: 0,
            size: 0,
            libraryPath: libpython,
            programName: python,
            isHome: false,
            logPath: options.layout.zygoteLogPath
        )
        zygote.isZygote = true
        // If the fork fails, the controller spawns a zygote when it launches engines.
        Controller(options: options).run(forkingZygote: { try? Zygote.fork(zygote) })
    }
}
