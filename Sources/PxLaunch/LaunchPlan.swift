#if canImport(Glibc)
import Glibc
#endif

/// How a cluster's engines are started: `--launcher local|mpi|ssh|slurm` and its options.
public enum LauncherKind: String, CaseIterable, Sendable {
    /// Children of the controller on this machine (the default).
    case local
    /// One `mpiexec -n N` job: rank is the MPI rank.
    case mpi
    /// `ssh` to each of `--hosts`, one connection per host (`host*N`: one process forks the N engines).
    case ssh
    /// `srun` inside a Slurm allocation; a batch job (`sbatch`) outside one.
    case slurm
}

/// What the user asked for: the launcher and its options.
public struct LaunchSettings: Equatable, Sendable {
    public var kind: LauncherKind
    /// `--mpiexec-args`, passed to mpiexec before `-n N`.
    public var mpiexecArguments: [String]
    /// The mpiexec to run (by default the one beside the engines' python, else `mpiexec` on PATH).
    public var mpiexec: String
    /// `--hosts`, for ssh.
    public var hosts: [SSHHost]
    /// `--ssh-args`, passed to every ssh call.
    public var sshArguments: [String]
    /// `--remote-pxsh`: pxsh on the remote hosts (by default the same path as here).
    public var remotePxsh: String?
    /// `--slurm-args`, passed to srun (in an allocation) or sbatch (outside one).
    public var slurmArguments: [String]
    /// `--start-timeout`: how long the engines may take to join, in seconds (a batch job's wait in the
    /// queue included); past it the start fails and the jobs are stopped.
    public var startTimeout: Double

    public init(
        kind: LauncherKind = .local,
        mpiexec: String = "mpiexec",
        mpiexecArguments: [String] = [],
        hosts: [SSHHost] = [],
        sshArguments: [String] = [],
        remotePxsh: String? = nil,
        slurmArguments: [String] = [],
        startTimeout: Double = LaunchSettings.defaultStartTimeout
    ) {
        self.kind = kind
        self.mpiexec = mpiexec
        self.mpiexecArguments = mpiexecArguments
        self.hosts = hosts
        self.sshArguments = sshArguments
        self.remotePxsh = remotePxsh
        self.slurmArguments = slurmArguments
        self.startTimeout = startTimeout
    }

    /// Seconds.
    public static let defaultStartTimeout: Double = 120

    /// The path of `program`: itself when it has a `/`, else the first executable of that name on PATH.
    public static func findExecutable(_ program: String) throws -> String {
        if program.contains("/") { return program }
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = directory + "/" + program
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw LaunchPlan.Problem(description: "\(program) is not on PATH (\(path))")
    }

    /// The mpiexec that matches the engines' python: the one beside it when there is one (a venv's
    /// or pyenv's `mpich` wheel puts it there), else `mpiexec` on PATH.
    public static func mpiexec(besidePython python: String) -> String {
        guard let slash = python.lastIndex(of: "/") else { return "mpiexec" }
        let candidate = python[..<slash] + "/mpiexec"
        return access(String(candidate), X_OK) == 0 ? String(candidate) : "mpiexec"
    }

    /// The number of engines: for ssh the sum of the hosts' counts, else `requested`.
    public func engineCount(requested: Int) -> Int {
        kind == .ssh ? hosts.reduce(0) { $0 + $1.engines } : requested
    }
}

/// One process that a launcher runs to start engines: `mpiexec -n 4 pxsh engine ...`, one ssh, one
/// srun, or an `sbatch` that submits a batch job.
public struct LaunchJob: Equatable, Sendable {
    public enum Input: Equatable, Sendable {
        /// /dev/null.
        case none
        /// The connection file's bytes, then the pipe stays open: an engine started by ssh reads
        /// the file from its stdin and exits when it closes (the ssh ended).
        case connectionFile
        /// A batch script, then end of file (sbatch reads its script from stdin).
        case script(String)
    }

    /// The program, looked up on PATH when it has no `/`.
    public var executable: String
    public var arguments: [String]
    public var input: Input
    /// The ranks of the engines it starts.
    public var ranks: Range<Int>
    /// Where they run, for messages: `10.211.1.2`, or nil for this machine or the launcher's choice.
    public var host: String?
    /// `sbatch` returns once the job is queued and prints its id; the engines live as long as the job.
    public var isBatchSubmission: Bool
    /// Variables added to the environment it inherits, unless that already sets them.
    public var environment: [String: String] = [:]
    /// The host of an ssh job, where one of its ranks can be started again alone (`%restart`).
    public var sshHost: SSHHost?

    /// The command as a person would type it, for messages.
    public var commandLine: String { ([executable] + arguments).map(ShellWords.quote).joined(separator: " ") }
}

/// The jobs that start a cluster's engines.
public enum LaunchPlan {
    public struct Problem: Error, Equatable, CustomStringConvertible {
        public let description: String

        public init(description: String) {
            self.description = description
        }
    }

    /// - Parameters:
    ///   - pxsh: this pxsh's path (what the engines run on this machine).
    ///   - python: the python the engines run (the same path on every host).
    ///   - connectionFile: the cluster's connection file (0600, in its directory). mpiexec and srun
    ///     engines read it by path (the cluster's directory must be visible to them, as with
    ///     ipyparallel's `--file`); ssh engines get its bytes on stdin.
    ///   - insideAllocation: whether this runs inside a Slurm allocation (`SLURM_JOB_ID` is set).
    ///   - isRoot: whether this runs as root: Open MPI's mpiexec then refuses to start unless
    ///     `OMPI_ALLOW_RUN_AS_ROOT=1` and `OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1` are set (MPICH ignores them).
    ///   - jobName: the Slurm job's name (`pxsh-NAME`).
    public static func jobs(
        _ settings: LaunchSettings,
        engines: Int,
        pxsh: String,
        python: String,
        connectionFile: String,
        insideAllocation: Bool,
        isRoot: Bool = false,
        jobName: String = "pxsh",
        batchOutput: String = "slurm-%j.out"
    ) throws -> [LaunchJob] {
        let engine = [pxsh, "engine", "--connection-file", connectionFile, "--python", python]
        switch settings.kind {
        case .local:
            throw Problem(description: "the local launcher starts engines itself")
        case .mpi:
            guard engines >= 1 else { throw Problem(description: "the mpi launcher needs at least one engine (-n)") }
            return [
                LaunchJob(
                    executable: settings.mpiexec,
                    arguments: settings.mpiexecArguments + ["-n", String(engines)] + engine,
                    input: .none,
                    ranks: 0..<engines,
                    host: nil,
                    isBatchSubmission: false,
                    // Whoever runs pxsh as root already runs its engines as root: the guard would
                    // only stop Open MPI where MPICH works.
                    environment: isRoot ? ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"] : [:]
                )
            ]
        case .ssh:
            let engines = settings.engineCount(requested: engines)
            guard !settings.hosts.isEmpty else {
                throw Problem(description: "the ssh launcher needs --hosts user@host[:port][*N],...")
            }
            var jobs: [LaunchJob] = []
            var rank = 0
            for host in settings.hosts {
                jobs.append(
                    sshJob(
                        settings,
                        host: host,
                        ranks: rank..<(rank + host.engines),
                        size: engines,
                        pxsh: pxsh,
                        python: python
                    )
                )
                rank += host.engines
            }
            return jobs
        case .slurm:
            guard engines >= 1 else { throw Problem(description: "the slurm launcher needs at least one engine (-n)") }
            if insideAllocation {
                return [
                    LaunchJob(
                        executable: "srun",
                        arguments: settings.slurmArguments + ["-n", String(engines)] + engine,
                        input: .none,
                        ranks: 0..<engines,
                        host: nil,
                        isBatchSubmission: false
                    )
                ]
            }
            let script = "#!/bin/sh\nexec srun " + engine.map(ShellWords.quote).joined(separator: " ") + "\n"
            return [
                LaunchJob(
                    executable: "sbatch",
                    arguments: [
                        "--parsable", "--job-name=\(jobName)", "--output=\(batchOutput)", "-n", String(engines),
                    ]
                        + settings.slurmArguments,
                    input: .script(script),
                    ranks: 0..<engines,
                    host: nil,
                    isBatchSubmission: true
                )
            ]
        }
    }
}

extension LaunchPlan {
    /// The ranks that the engines of one `pxsh engine -n K` ask for: R...R+K-1 after `--rank R`,
    /// else -1 each (any: the controller gives the next free ones).
    public static func hostRanks(first: Int?, count: Int) -> [Int] {
        guard let first else { return Array(repeating: -1, count: count) }
        return Array(first..<(first + count))
    }
}

extension LaunchPlan {
    /// One ssh to `host` that starts the engines of `ranks` there: `pxsh engine -n K`, which starts
    /// Python once and forks them (one engine alone is started as such). `%restart` of one of them
    /// runs another such job for its rank alone.
    ///
    /// - Parameter size: the cluster's size, which each engine's namespace sees.
    public static func sshJob(
        _ settings: LaunchSettings,
        host: SSHHost,
        ranks: Range<Int>,
        size: Int,
        pxsh: String,
        python: String
    ) -> LaunchJob {
        let remote =
            [settings.remotePxsh ?? pxsh, "engine", "--connection-file", "-", "--python", python]
            + (ranks.count > 1 ? ["-n", String(ranks.count)] : [])
            + ["--rank", String(ranks.lowerBound), "--size", String(size)]
        // The user's options first: for each option, ssh uses the first value it is given.
        let arguments =
            settings.sshArguments
            + ["-T", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5"]
            + (host.port.map { ["-p", String($0)] } ?? [])
            + [host.destination, "exec " + remote.map(ShellWords.quote).joined(separator: " ")]
        var job = LaunchJob(
            executable: "ssh",
            arguments: arguments,
            input: .connectionFile,
            ranks: ranks,
            host: host.description,
            isBatchSubmission: false
        )
        job.sshHost = host
        return job
    }
}

/// The rank and size that a launcher gave this process, from its environment.
public struct LaunchedRank: Equatable, Sendable {
    public var rank: Int
    public var size: Int
    /// The variable it came from, for messages: `PMI_RANK`.
    public var source: String

    /// MPI's variables first (MPICH's and Intel's hydra, Open MPI), then Slurm's in an `srun` step:
    /// inside `srun` they agree, and under an `mpiexec` started in an allocation only MPI's are the
    /// ranks.
    /// This process's, from its environment.
    public static func fromProcessEnvironment() -> LaunchedRank? {
        var environment: [String: String] = [:]
        for name in [
            "PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS",
            "SLURM_STEP_ID",
        ] {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        return from(environment: environment)
    }

    public static func from(environment: [String: String]) -> LaunchedRank? {
        let pairs = [
            ("PMI_RANK", "PMI_SIZE"),
            ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
            ("SLURM_PROCID", "SLURM_NTASKS"),
        ]
        for (rankName, sizeName) in pairs {
            // A batch script has SLURM_PROCID=0 too; only an srun step's tasks have their own.
            if rankName == "SLURM_PROCID" && environment["SLURM_STEP_ID"] == nil { continue }
            guard let rankText = environment[rankName], let rank = Int(rankText), rank >= 0 else { continue }
            let size = environment[sizeName].flatMap { Int($0) } ?? (rank + 1)
            return LaunchedRank(rank: rank, size: max(size, rank + 1), source: rankName)
        }
        return nil
    }
}
