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
    var pid: pid_t = 0
    /// The Slurm job a batch submission queued.
    var batchJobID: String?
    /// How it ended; nil while it runs.
    var ended: String?
    /// When its batch job was last looked at (monotonic).
    var lastPolled: UInt64 = 0
    /// Whether all its engines have joined (once): from then on, an engine lost is only that.
    var hasAllJoined = false

    init(plan: LaunchJob, logPath: String) {
        self.plan = plan
        self.logPath = logPath
    }

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
            !slot.isHome && slot.life.host != nil && !slot.life.isDead && job.plan.ranks.contains(slot.rank)
        }.map(\.id)
    }

    /// Whether clients should wait: a launcher's job runs and its engines have not all joined yet.
    var launchersAwaitingEngines: Bool {
        launcherJobs.contains { job in
            guard job.ended == nil, !job.hasAllJoined else { return false }
            let joined = engines(of: job).filter { engines[$0]?.life.hasRegistered == true }.count
            job.hasAllJoined = joined >= job.plan.ranks.count
            return !job.hasAllJoined
        }
    }

    /// Looks for launcher jobs that have ended (every turn of the loop; batch jobs every 2 s).
    func watchLauncherJobs() {
        // Notes which jobs have seen all their engines join (before any of them can end).
        _ = launchersAwaitingEngines
        let now = Clock.monotonicNanoseconds
        for job in launcherJobs where job.ended == nil {
            if job.pid > 0 {
                if let termination = ProcessSpawner.reap(job.pid) {
                    launcherJobEnded(job, cause: termination.description)
                }
            } else if let id = job.batchJobID, now - job.lastPolled >= 2_000_000_000 {
                job.lastPolled = now
                if let state = Controller.slurmJobState(id),
                    !["PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED"].contains(state)
                {
                    launcherJobEnded(job, cause: state.isEmpty ? "it is no longer in the queue" : state.lowercased())
                }
            }
        }
    }

    /// A launcher's job ended: its engines are dead (those still connected are disconnected, which
    /// makes them exit), and if it ended before they all joined, the cluster's start fails.
    func launcherJobEnded(_ job: LauncherJob, cause: String) {
        job.ended = cause
        let joined = engines(of: job)
        let message = "its launcher ended (\(job.label): \(cause))"
        log("controller: \(job.label) ended: \(cause)")
        for id in joined {
            if let peer = engines[id]?.connection {
                close(peer, reason: message)
            } else {
                engineEnded(id, cause: message)
            }
        }
        guard !isShuttingDown, launcherFailure == nil else { return }
        if !job.hasAllJoined {
            // It ended before its engines had all joined: the cluster did not start.
            let tail = FileDescriptor.lastLines(ofFile: job.logPath, count: 4)
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
        for job in launcherJobs where job.ended == nil {
            if let id = job.batchJobID {
                if let scancel = try? LaunchSettings.findExecutable("scancel"),
                    let pid = try? ProcessSpawner.spawn(scancel, arguments: [id])
                {
                    _ = ProcessSpawner.wait(pid, milliseconds: 10_000)
                }
                job.ended = "cancelled"
            }
        }
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
        }
    }

    /// A Slurm job's state from squeue (`RUNNING`, ...), "" when it has left the queue, nil when
    /// squeue could not tell.
    static func slurmJobState(_ id: String) -> String? {
        guard let squeue = try? LaunchSettings.findExecutable("squeue"),
            let output = try? ProcessSpawner.run(squeue, arguments: ["-h", "-j", id, "-o", "%T"], milliseconds: 5_000)
        else { return nil }
        if output.status != .exited(0) {
            // squeue says "Invalid job id" for a job that has left its memory.
            return output.text.contains("Invalid job id") ? "" : nil
        }
        return output.text.split(separator: "\n").first.map { String($0).trimmingCharacters() } ?? ""
    }
}

extension ProcessSpawner {
    /// Runs `executable` to its end (at most `milliseconds`), and returns how it ended and what it
    /// wrote to stdout and stderr.
    fileprivate static func run(
        _ executable: String,
        arguments: [String],
        milliseconds: Int
    ) throws -> (status: Termination?, text: String) {
        let pipe = try FileDescriptor.pipe()
        let pid: pid_t
        do {
            pid = try spawn(executable, arguments: arguments, output: pipe.write, errorOutput: pipe.write)
        } catch {
            pipe.read.close()
            pipe.write.close()
            throw error
        }
        pipe.write.close()
        defer { pipe.read.close() }
        // squeue's answer is small; read it to the end, then reap.
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = Glibc.read(pipe.read.rawValue, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            bytes += buffer[0..<count]
        }
        let status = wait(pid, milliseconds: milliseconds)
        if status == nil {
            kill(pid, SIGKILL)
            _ = wait(pid)
        }
        return (status, String(decoding: bytes, as: UTF8.self))
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
