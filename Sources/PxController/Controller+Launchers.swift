import PxLaunch
import PxPlatform
import PxTransport
import PxWire

#if canImport(Glibc)
import Glibc
#endif

/// A process that starts some of the cluster's engines on their hosts (`mpiexec`, one `ssh`, `srun`),
/// or a Slurm batch job submitted with `sbatch`. Its engines join over TCP with the connection file.
final class LauncherJob {
    let plan: LaunchJob
    /// Its stdout and stderr (and the engines' own messages before they joined).
    let logPath: String
    /// The ranks of the engines it runs: the plan's, but for those restarted by a job of their own.
    var ranks: Set<Int>
    /// What it was started for after the cluster's start: "restart" (one engine that `%restart`
    /// stopped, an ssh job of one rank) or "%add" (engines `%add` asked for). Its end before its
    /// engines joined fails that, not the cluster's start. Nil for the cluster's start.
    let laterPurpose: String?
    /// When it started (monotonic).
    var started: UInt64 = 0
    var pid: pid_t = 0
    /// The Slurm job a batch submission queued.
    var batchJobID: String?
    /// How it ended; nil while it runs.
    var ended: String?
    /// When its batch job was last looked at (monotonic).
    var lastPolled: UInt64 = 0
    /// The squeue that looks at its batch job now: it runs beside the controller's loop, which reaps it.
    var stateQuery: (pid: pid_t, started: UInt64)?
    /// What squeue last said of its batch job: `PENDING (JobHeldUser)`.
    var lastState: String?
    /// Whether all its engines have joined (once): from then on, an engine lost is only that.
    var hasAllJoined = false
    /// MPICH's shared-memory segments (`/dev/shm/mpich_shm_*`) that its engines on this host have
    /// mapped, and when they were last looked for (monotonic): MPICH removes them when its ranks
    /// finalize, so a job that ends otherwise (killed) leaves them unless pxsh does.
    var sharedMemorySegments: Set<String> = []
    var lastLookedForSegments: UInt64 = 0
    /// Ranks whose engines were removed before they joined (a `%add` stopped by Ctrl-C): those
    /// engines are refused if they join after all.
    var abandonedRanks: Set<Int> = []

    init(plan: LaunchJob, logPath: String, laterPurpose: String? = nil) {
        self.plan = plan
        self.logPath = logPath
        self.ranks = Set(plan.ranks)
        self.laterPurpose = laterPurpose
    }

    /// Whether `%restart` or `%add` started it, after the cluster's start.
    var isLater: Bool { laterPurpose != nil }

    /// Where squeue writes what it says of the batch job.
    var stateQueryPath: String { logPath + ".squeue" }

    /// "mpiexec -n 4 ...", "ssh root@10.0.0.2", "Slurm job 17", for messages.
    var label: String {
        if let batchJobID { return "Slurm job \(batchJobID)" }
        if plan.executable == "ssh", let host = plan.host { return "ssh \(host)" }
        return plan.commandLine
    }
}

// MARK: - Engines started by a launcher (mpi, ssh, slurm)

extension Controller {
    /// Starts the launcher's jobs. A job that cannot start fails the cluster's start.
    func startLauncherJobs() {
        var settings = options.launch
        if settings.kind == .mpi && settings.mpiexec == "mpiexec" {
            settings.mpiexec = LaunchSettings.mpiexec(besidePython: options.pythonExecutable)
        }
        let plan: [LaunchJob]
        do {
            plan = try LaunchPlan.jobs(
                settings,
                engines: options.engineCount,
                pxsh: ProcessSpawner.currentExecutable,
                python: options.pythonExecutable,
                connectionFile: options.connectionFilePath,
                insideAllocation: getenv("SLURM_JOB_ID") != nil,
                isRoot: geteuid() == 0,
                jobName: "pxsh-" + (options.name ?? "private"),
                batchOutput: options.directory + "/slurm-%j.out"
            )
        } catch {
            return launcherFailed("\(error)")
        }
        launchersStarted = Clock.monotonicNanoseconds
        for (index, job) in plan.enumerated() {
            let launcherJob = LauncherJob(plan: job, logPath: options.directory + "/launcher-\(index).log")
            launcherJobs.append(launcherJob)
            do {
                try start(launcherJob)
            } catch {
                launcherJob.ended = "\(error)"
                return launcherFailed("cannot run \(launcherJob.label): \(error)")
            }
        }
        log("controller: the \(options.launch.kind.rawValue) launcher started \(plan.count) job(s)")
    }

    private func start(_ job: LauncherJob) throws {
        job.started = Clock.monotonicNanoseconds
        let log = try FileDescriptor.open(job.logPath, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC)
        defer { log.close() }
        let input: FileDescriptor
        switch job.plan.input {
        case .none:
            input = try FileDescriptor.open("/dev/null", flags: O_RDONLY | O_CLOEXEC)
        case .connectionFile, .script:
            // Both are small (well under a pipe's 64 KiB): written whole before the child reads.
            let pipe = try FileDescriptor.pipe()
            defer { pipe.write.close() }
            input = pipe.read
            if case .script(let text) = job.plan.input {
                try pipe.write.writeAll(text)
            } else {
                try pipe.write.writeAll(try FileDescriptor.readAll(options.connectionFilePath))
            }
        }
        defer { input.close() }
        let executable = try LaunchSettings.findExecutable(job.plan.executable)
        job.pid = try ProcessSpawner.spawn(
            executable,
            arguments: job.plan.arguments,
            environment: job.plan.environment.isEmpty ? nil : ProcessSpawner.environment(adding: job.plan.environment),
            output: log,
            errorOutput: log,
            standardInput: input
        )
        guard job.plan.isBatchSubmission else { return }
        // sbatch returns once the job is queued, printing "ID" or "ID;CLUSTER".
        let termination = ProcessSpawner.wait(job.pid, milliseconds: 30_000)
        job.pid = 0
        let output = FileDescriptor.lastLines(ofFile: job.logPath, count: 3)
        guard termination == .exited(0),
            let id = output.split(separator: "\n").last?.split(separator: ";").first.map(String.init),
            !id.isEmpty, id.allSatisfy(\.isNumber)
        else {
            throw LaunchPlan.Problem(
                description: "sbatch failed (\(termination?.description ?? "no answer in 30 s")): \(output)"
            )
        }
        job.batchJobID = id
        self.log("controller: submitted Slurm job \(id)")
    }

    /// The launcher could not start the cluster's engines: clients waiting for them are refused with
    /// the reason, and the cluster shuts down.
    func launcherFailed(_ reason: String) {
        log("controller: \(reason)")
        launcherFailure = reason
        for peer in clientsAwaitingWelcome where !peer.isClosed {
            peer.connection.enqueue(Frame(kind: .refused, segments: [Bytes(text: reason)]))
            peer.connection.flush()
        }
        clientsAwaitingWelcome = []
        isShuttingDown = true
    }

    /// The remote engines a launcher's job started: those of its ranks that are alive.
    func engines(of job: LauncherJob) -> [Int32] {
        engines.values.filter { slot in
            !slot.isHome && !slot.life.isDead && slot.launcherRank.map(job.ranks.contains) == true
        }.map(\.id)
    }

    /// The job whose engine asked for `rank` when it joined.
    func launcherJob(ofRank rank: Int) -> LauncherJob? {
        launcherJobs.last { $0.ranks.contains(rank) }
    }

    /// Whether clients should wait: a launcher's job runs and its engines have not all joined yet
    /// (a job that restarts one engine is awaited by the `%restart` alone).
    var launchersAwaitingEngines: Bool {
        launcherJobs.contains { job in
            guard job.ended == nil, !job.hasAllJoined else { return false }
            // One that waits for its successor (restarted) has not joined with this job.
            let joined = engines(of: job).filter { id in
                engines[id].map { $0.life.hasRegistered && !$0.life.isStarting } == true
            }.count
            job.hasAllJoined = joined >= job.ranks.count
            return !job.hasAllJoined && !job.isLater
        }
    }

    // MARK: - Restarting one engine of the ssh launcher

    /// Whether `%restart` can start the remote engine that asked for `rank` again: the ssh launcher
    /// started it, and can start that rank alone on its host.
    func canRelaunch(rank: Int?) -> Bool {
        rank.flatMap(launcherJob(ofRank:))?.plan.sshHost != nil
    }

    /// Asks remote engine `id` to exit (its connection is closed if it has not within the grace
    /// period); once it has, ``relaunchRemoteEngine(_:)`` starts its rank again.
    func restartRemoteEngine(_ id: Int32) {
        // One already on its way (restarting, or waiting for its successor) goes on as it is.
        guard var slot = engines[id], !slot.isChild, slot.life.isRelaunchable, !slot.life.isStarting else { return }
        slot.handle(.restartRequested)
        if let peer = slot.connection {
            peer.connection.enqueue(Frame(kind: .shutdown, engine: id))
            peer.connection.flush()
            slot.killDeadline = Clock.monotonicNanoseconds + Controller.exitGraceNanoseconds
        }
        engines[id] = slot
    }

    /// Runs an ssh job of one engine on the host of the job that started engine `id`, asking for its
    /// rank: the engine that joins with it takes over `id` (see ``registerRemoteEngine(_:hello:)``).
    func relaunchRemoteEngine(_ id: Int32) {
        guard var slot = engines[id], let rank = slot.launcherRank, let previous = launcherJob(ofRank: rank),
            let host = previous.plan.sshHost
        else { return engineEnded(id, cause: "its launcher cannot start it again") }
        previous.ranks.remove(rank)
        let job = addSSHJob(on: host, ranks: slot.rank..<(slot.rank + 1), size: rankedEngines.count, purpose: "restart")
        slot.launcherRank = slot.rank
        slot.killDeadline = nil
        slot.handle(.relaunched)
        engines[id] = slot
        do {
            try start(job)
            log("controller: restarting \(slot.label) with \(job.label)")
        } catch {
            job.ended = "\(error)"
            engineEnded(id, cause: "cannot run \(job.label): \(error)")
        }
    }

    /// A job of the cluster's that runs `pxsh engine` for `ranks` on `host` over ssh, after the
    /// cluster's start (`purpose` says why in its messages); the caller starts it.
    private func addSSHJob(on host: SSHHost, ranks: Range<Int>, size: Int, purpose: String) -> LauncherJob {
        let plan = LaunchPlan.sshJob(
            options.launch,
            host: host,
            ranks: ranks,
            size: size,
            pxsh: ProcessSpawner.currentExecutable,
            python: options.pythonExecutable
        )
        let job = LauncherJob(
            plan: plan,
            logPath: options.directory + "/launcher-\(launcherJobs.count).log",
            laterPurpose: purpose
        )
        launcherJobs.append(job)
        return job
    }

    // MARK: - Adding engines with the ssh launcher

    /// Starts engines of ranks `ranks` for `%add` with the ssh launcher: the engines are dealt over
    /// `--hosts` in turn, one ssh job per host (`pxsh engine -n K` there). Each has its id at once,
    /// `launching` until its engine joins and takes it over (see ``registerRemoteEngine(_:hello:)``).
    ///
    /// - Returns: the ids of the engines whose ssh started.
    func launchSSHEngines(ranks: Range<Int>) -> Set<Int32> {
        let hosts = options.launch.hosts
        var added: Set<Int32> = []
        var next = ranks.lowerBound
        for (index, host) in hosts.enumerated() {
            // Host `index` takes every hosts.count-th engine from the index-th on.
            let count = (ranks.count - index + hosts.count - 1) / hosts.count
            guard count > 0 else { continue }
            let hostRanks = next..<(next + count)
            next += count
            for job in launcherJobs { job.abandonedRanks.subtract(hostRanks) }
            let job = addSSHJob(on: host, ranks: hostRanks, size: ranks.upperBound, purpose: "%add")
            let ids = hostRanks.map { rank in
                let id = newEngineID()
                var slot = EngineSlot(
                    id: id,
                    rank: rank,
                    pid: 0,
                    since: Clock.realtimeNanoseconds,
                    origin: .remote(host: host.host),
                    isRelaunchable: true,
                    isLaunching: true
                )
                slot.launcherRank = rank
                engines[id] = slot
                return id
            }
            do {
                try start(job)
                log("controller: adding \(ids.count) engine(s) with \(job.label)")
                added.formUnion(ids)
            } catch {
                job.ended = "\(error)"
                broadcast(.notice("the %add on \(host) failed: cannot run \(job.label): \(error)"))
                for id in ids { engineEnded(id, cause: "cannot run \(job.label): \(error)") }
            }
        }
        return added
    }

    /// Gives up a remote engine that its launcher's job is still starting (`%add` stopped by Ctrl-C
    /// removes it): it leaves now, and the job is ended once it starts no engine still wanted, so
    /// that none joins later unasked.
    func abandonLaunch(of id: Int32) {
        // (Ending its ssh does not end what it started there: the engines may still join.)
        guard let rank = engines[id]?.launcherRank, let job = launcherJob(ofRank: rank) else { return }
        engineEnded(id, cause: "removed before it joined")
        job.ranks.remove(rank)
        job.abandonedRanks.insert(rank)
        if job.ended == nil, job.pid > 0, engines(of: job).isEmpty { launcher.signal(job.pid, SIGTERM) }
    }

    /// Looks for launcher jobs that have ended (every turn of the loop; batch jobs every 2 s), and
    /// fails the start when their engines have not all joined within the start timeout.
    func watchLauncherJobs() {
        // Notes which jobs have seen all their engines join (before any of them can end).
        let isAwaitingEngines = launchersAwaitingEngines
        let now = Clock.monotonicNanoseconds
        for job in launcherJobs where job.ended == nil {
            if options.launch.kind == .mpi && now - job.lastLookedForSegments >= 1_000_000_000 {
                job.lastLookedForSegments = now
                noteSharedMemorySegments(of: job)
            }
            if job.pid > 0 {
                if let termination = ProcessSpawner.reap(job.pid) {
                    launcherJobEnded(job, cause: termination.description)
                }
            } else if let id = job.batchJobID {
                watchBatchJob(job, id: id, now: now)
            }
        }
        let timeout = UInt64(options.launch.startTimeout * 1_000_000_000)
        if isAwaitingEngines, launcherFailure == nil, !isShuttingDown, now - launchersStarted >= timeout {
            launchersTimedOut()
        }
        // A restart or %add whose engines have not joined in time is given up: its end reports them dead.
        for job in launcherJobs where job.isLater && job.ended == nil && !job.hasAllJoined && job.pid > 0 {
            if now - job.started >= timeout { launcher.signal(job.pid, SIGTERM) }
        }
    }

    /// Asks squeue for the state of a batch job every 2 s. squeue runs beside the loop (it can take
    /// seconds when slurmctld is busy) and is reaped on a later turn.
    private func watchBatchJob(_ job: LauncherJob, id: String, now: UInt64) {
        if let query = job.stateQuery {
            if let termination = ProcessSpawner.reap(query.pid) {
                stateQueryEnded(job, termination)
            } else if now - query.started >= 10_000_000_000 {
                // An answer this late is of no use: ask again later.
                endStateQuery(of: job)
            }
        } else if now - job.lastPolled >= 2_000_000_000 {
            job.lastPolled = now
            job.stateQuery = startStateQuery(id: id, path: job.stateQueryPath).map { ($0, now) }
        }
    }

    private func stateQueryEnded(_ job: LauncherJob, _ termination: ProcessSpawner.Termination) {
        job.stateQuery = nil
        let output = String(decoding: (try? FileDescriptor.readAll(job.stateQueryPath)) ?? [], as: UTF8.self)
        guard let state = Controller.slurmJobState(termination, output: output) else { return }
        job.lastState = state.isEmpty ? nil : state
        let name = String(state.prefix { $0 != " " })
        if !["PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED"].contains(name) {
            launcherJobEnded(job, cause: state.isEmpty ? "it is no longer in the queue" : state.lowercased())
        }
    }

    private func startStateQuery(id: String, path: String) -> pid_t? {
        guard let squeue = try? LaunchSettings.findExecutable("squeue"),
            let output = try? FileDescriptor.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC)
        else { return nil }
        defer { output.close() }
        return try? ProcessSpawner.spawn(
            squeue,
            arguments: ["-h", "-j", id, "-o", "%T %r"],
            output: output,
            errorOutput: output
        )
    }

    private func endStateQuery(of job: LauncherJob) {
        guard let query = job.stateQuery else { return }
        job.stateQuery = nil
        kill(query.pid, SIGKILL)
        _ = ProcessSpawner.wait(query.pid)
    }

    /// The engines have not all joined within the start timeout: the start fails, naming the jobs
    /// that wait (and why, for a batch job still in the queue), and shutting down stops them.
    private func launchersTimedOut() {
        // The start fails now, so waiting here is fine: a batch job not yet looked at gets its state.
        for job in launcherJobs where job.ended == nil && job.lastState == nil {
            guard let id = job.batchJobID else { continue }
            if job.stateQuery == nil {
                job.stateQuery = startStateQuery(id: id, path: job.stateQueryPath).map {
                    ($0, Clock.monotonicNanoseconds)
                }
            }
            if let query = job.stateQuery, let termination = ProcessSpawner.wait(query.pid, milliseconds: 5_000) {
                stateQueryEnded(job, termination)
            }
        }
        guard launcherFailure == nil else { return }
        var waiting: [String] = []
        for job in launcherJobs where job.ended == nil && !job.hasAllJoined {
            let joined = engines(of: job).filter { engines[$0]?.life.hasRegistered == true }.count
            if job.batchJobID != nil, let state = job.lastState, state.hasPrefix("PENDING") {
                // "PENDING (JobHeldUser)": squeue's reason says why it waits.
                waiting.append("\(job.label) is still pending" + state.dropFirst("PENDING".count))
            } else {
                waiting.append("\(joined) of \(job.plan.ranks.count) engines of \(job.label) joined")
            }
        }
        let seconds = options.launch.startTimeout
        let limit = seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
        let stopped = launcherJobs.contains { $0.batchJobID != nil } ? "cancelled" : "stopped"
        // Cancelled before the client hears it, so that the queue no longer has it then.
        for job in launcherJobs where job.ended == nil && job.batchJobID != nil { cancelBatchJob(job) }
        launcherFailed(
            "the engines did not start within \(limit) s (--start-timeout): \(waiting.joined(separator: "; "))"
                + "; \(waiting.count == 1 ? "it is" : "they are") \(stopped)"
        )
    }

    /// Notes the MPICH segments that the job's engines on this host have mapped (they exist from
    /// `MPI_Init`, when the user imports mpi4py). Only this cluster's engines are read: their command
    /// line names its connection file.
    private func noteSharedMemorySegments(of job: LauncherJob) {
        for id in engines(of: job) {
            guard let pid = engines[id]?.pid, pid > 0,
                ProcessTable.entry(pid)?.commandLine.contains(options.connectionFilePath) == true,
                let maps = try? FileDescriptor.readAll("/proc/\(pid)/maps")
            else { continue }
            for line in String(decoding: maps, as: UTF8.self).split(separator: "\n") {
                guard let start = line.range(of: " /dev/shm/mpich_shm_") else { continue }
                let path = line[line.index(after: start.lowerBound)...]
                if !path.contains(" ") { job.sharedMemorySegments.insert(String(path)) }
            }
        }
    }

    /// Removes the MPICH segments that the job's engines had mapped and that are still there: the
    /// job ended without its ranks finalizing (a rank or mpiexec killed).
    private func removeSharedMemorySegments(of job: LauncherJob) {
        for path in job.sharedMemorySegments.sorted() where unlink(path) == 0 {
            log("controller: removed \(path), which \(job.label) left")
        }
        job.sharedMemorySegments = []
    }

    /// A launcher's job ended: its engines are dead (those still connected are disconnected, which
    /// makes them exit), and if it ended before they all joined, the cluster's start fails.
    func launcherJobEnded(_ job: LauncherJob, cause: String) {
        job.ended = cause
        removeSharedMemorySegments(of: job)
        let joined = engines(of: job)
        let message = "its launcher ended (\(job.label): \(cause))"
        log("controller: \(job.label) ended: \(cause)")
        if let purpose = job.laterPurpose, !job.hasAllJoined && !isShuttingDown && !joined.isEmpty {
            // Said before the engines are reported lost, which answers the `%restart` or `%add` that
            // waits (none waits when all its engines were removed: a %add stopped by Ctrl-C).
            let tail = FileDescriptor.lastLines(ofFile: job.logPath, count: 10)
            broadcast(
                .notice(
                    "the \(purpose) on \(job.plan.host ?? "?") failed: \(job.label) ended (\(cause))"
                        + (tail.isEmpty ? "" : ":\n" + tail)
                )
            )
        }
        for id in joined {
            if let peer = engines[id]?.connection {
                close(peer, reason: message)
            } else {
                engineEnded(id, cause: message)
            }
        }
        guard !isShuttingDown, launcherFailure == nil else { return }
        if !job.hasAllJoined && !job.isLater {
            // It ended before its engines had all joined: the cluster did not start.
            // Whole, within reason: Open MPI explains a refusal in 30 lines, the reason in the first.
            let tail = FileDescriptor.lastLines(ofFile: job.logPath, count: 40)
            let which = job.plan.host.map { " on \($0)" } ?? ""
            launcherFailed(
                "the engines\(which) did not start: \(job.label) ended (\(cause))" + (tail.isEmpty ? "" : ":\n" + tail)
            )
        }
    }

    /// Ends the launchers' jobs at shutdown: remote engines have been disconnected (they exit), so
    /// mpiexec, srun and ssh end by themselves; those that do not within 3 s are killed, and a batch
    /// job is cancelled.
    func stopLauncherJobs() {
        for job in launcherJobs { endStateQuery(of: job) }
        for job in launcherJobs where job.ended == nil && job.batchJobID != nil { cancelBatchJob(job) }
        let deadline = Clock.monotonicNanoseconds + 3_000_000_000
        for job in launcherJobs where job.ended == nil && job.pid > 0 {
            let left = Int((deadline - min(deadline, Clock.monotonicNanoseconds)) / 1_000_000)
            if ProcessSpawner.wait(job.pid, milliseconds: left) == nil {
                launcher.signal(job.pid, SIGTERM)
                if ProcessSpawner.wait(job.pid, milliseconds: 2_000) == nil {
                    launcher.signal(job.pid, SIGKILL)
                    _ = ProcessSpawner.wait(job.pid, milliseconds: 2_000)
                }
            }
            job.ended = "stopped"
            removeSharedMemorySegments(of: job)
        }
    }

    private func cancelBatchJob(_ job: LauncherJob) {
        guard let id = job.batchJobID else { return }
        if let scancel = try? LaunchSettings.findExecutable("scancel"),
            let pid = try? ProcessSpawner.spawn(scancel, arguments: [id])
        {
            _ = ProcessSpawner.wait(pid, milliseconds: 10_000)
        }
        job.ended = "cancelled"
    }

    /// A Slurm job's state from what `squeue -h -j ID -o "%T %r"` wrote: `RUNNING None`, `PENDING
    /// (JobHeldUser)`; "" when the job has left the queue; nil when squeue could not tell.
    static func slurmJobState(_ termination: ProcessSpawner.Termination, output: String) -> String? {
        if termination != .exited(0) {
            // squeue says "Invalid job id" for a job that has left its memory.
            return output.contains("Invalid job id") ? "" : nil
        }
        guard let line = output.split(separator: "\n").first.map({ String($0).trimmingCharacters() }) else {
            return ""
        }
        let fields = line.split(separator: " ", maxSplits: 1).map(String.init)
        guard fields.count == 2, fields[1] != "None" else { return fields.first ?? "" }
        return "\(fields[0]) (\(fields[1]))"
    }
}

extension String {
    fileprivate func trimmingCharacters() -> String {
        var text = Substring(self)
        while text.first?.isWhitespace == true { text = text.dropFirst() }
        while text.last?.isWhitespace == true { text = text.dropLast() }
        return String(text)
    }
}
