import PxClient
import PxPlatform

// MARK: - Waiting, Ctrl-C and escalation

extension Session {
    /// Waits for a result; Ctrl-C interrupts its tasks instead of abandoning them.
    ///
    /// - Parameter live: the command's live display, if it streams: it stops drawing its status line
    ///   at Ctrl-C, and what it streamed is not shown again.
    /// - Returns: whether the result is ready (false after a timeout or an interrupt).
    func waitInterruptibly(
        _ result: AsyncResult,
        timeout: Double?,
        isLocal: Bool = false,
        live: LiveOutput? = nil
    ) throws -> Bool {
        let deadline = timeout.map { Deadline(seconds: $0) }
        // The user waits for this reply: poll for it a little before sleeping, when that pays (SpinPolicy).
        let began = Clock.monotonicNanoseconds
        let budget = result.isReady ? 0 : cluster.spinPolicy.budget(tasks: result.tasks.count)
        let caught = budget > 0 && cluster.pollBriefly(seconds: budget, interrupt: interrupts?.descriptor)
        defer {
            let waited = Double(Clock.monotonicNanoseconds - began) / 1e9
            cluster.spinPolicy.ended(waited: waited, spun: budget > 0, caught: caught)
        }
        do {
            while !result.isReady {
                var slice: Double? = live == nil ? nil : 0.1
                if let deadline {
                    if deadline.hasPassed { return false }
                    slice = min(slice ?? deadline.secondsLeft, deadline.secondsLeft)
                }
                try cluster.wait(for: result, timeout: slice, interrupt: interrupts?.descriptor)
                live?.tick()
            }
            return true
        } catch ClusterError.interrupted {
            if try interrupt(result, isLocal: isLocal, live: live) {
                showInterrupted(result, isLocal: isLocal, live: live)
            }
            return false
        }
    }

    /// Ctrl-C during a data move (push, pull, scatter, gather), called by the cluster while it waits:
    /// interrupts the tasks; the errors they end with are thrown by the data move itself.
    func interruptDataMove(_ result: AsyncResult) throws {
        _ = try interrupt(result, isLocal: result.tasks.allSatisfy { $0.engine == EngineNumber.home })
    }

    /// Ctrl-C during a command: the running tasks of `result` get KeyboardInterrupt and the others
    /// never start. Waits up to 1.5 s for the running ones to end (most stop at once); those that do not are
    /// remembered, so that a second Ctrl-C restarts their engines.
    ///
    /// - Returns: whether the result is ready.
    private func interrupt(_ result: AsyncResult, isLocal: Bool, live: LiveOutput? = nil) throws -> Bool {
        _ = interrupts?.takePending()
        live?.interrupted()
        // Wipe the terminal's "^C" echo so the notice starts a clean line.
        if isInteractiveTerminal { write("\r\u{1B}[K") }
        let running: [Int32]
        do {
            // A second Ctrl-C gives up on a controller that does not answer (stopped, or stuck).
            running = try cluster.interrupt(result, wakingOn: interrupts?.descriptor)
        } catch ClusterError.interrupted {
            _ = interrupts?.takePending()
            if isInteractiveTerminal { write("\r\u{1B}[K") }
            emit(
                renderer.failure(
                    "the cluster's controller does not answer; \(result.label) was left as it is "
                        + "(%jobs shows it once the controller answers again)"
                )
            )
            return false
        }
        let what =
            isLocal
            ? "the local namespace"
            : running.isEmpty
                ? "\(result.label) (no task had started)"
                : EngineRanges.named(running)
        emit(renderer.notice("^C: interrupting \(what)"))
        var isReady = false
        let grace = Deadline(seconds: 1.5)
        while !isReady && !grace.hasPassed {
            do {
                isReady = try cluster.wait(for: result, timeout: grace.secondsLeft, interrupt: interrupts?.descriptor)
            } catch ClusterError.interrupted {
                _ = interrupts?.takePending()
                // A quick second Ctrl-C restarts stuck engines, but never the local namespace: its variables
                // are the session's own, so only a Ctrl-C after the warning below restarts it.
                let unfinished = unfinishedEngines(of: result).filter { $0 != EngineNumber.home }
                // Those that cannot be restarted are named once, when the grace ends.
                let engines = unfinished.filter { !unrestartable(unfinished).contains($0) }
                guard !isLocal, !engines.isEmpty else { continue }
                try restartStuck(engines, isLocal: false)
                isReady = try cluster.wait(for: result, timeout: 5)
                break
            }
        }
        if isReady { return true }
        let unfinished = isLocal ? [EngineNumber.home] : unfinishedEngines(of: result)
        let fixed = unrestartable(unfinished)
        let stuck = unfinished.filter { !fixed.contains($0) }
        if !fixed.isEmpty { emit(renderer.failure(stillRunning(fixed, after: "did not stop"))) }
        guard !stuck.isEmpty else { return false }
        escalation = (stuck, Clock.monotonicNanoseconds + 2_000_000_000)
        emit(
            renderer.failure(
                "\(isLocal ? "the local namespace" : EngineRanges.named(stuck)) did not stop; "
                    + "press Ctrl-C again within 2 s to restart \(isLocal ? "it" : EngineRanges.pronoun(stuck))"
            )
        )
        return false
    }

    /// Those of `engines` that the controller cannot start again (ranks of an mpiexec or srun job,
    /// engines that joined by hand): Ctrl-C cannot restart them.
    private func unrestartable(_ engines: [Int32]) -> [Int32] {
        let fixed = Set(cluster.engineList.filter { !$0.canRestart }.map(\.id))
        return engines.filter(fixed.contains)
    }

    /// "engines 0,1 did not stop, and cannot be restarted: ...; they still run".
    private func stillRunning(_ engines: [Int32], after what: String? = nil) -> String {
        let one = Set(engines).count == 1
        return
            "\(EngineRanges.named(engines))\(what.map { " \($0), and" } ?? "") cannot be restarted: pxsh cannot start one rank of an "
            + "MPI or Slurm job again, nor an engine that joined by hand; \(one ? "it still runs" : "they still run") "
            + "(`pxsh cluster stop`, or quitting a private cluster, ends the job)"
    }

    /// What an interrupted command shows once its tasks have ended.
    private func showInterrupted(_ result: AsyncResult, isLocal: Bool, live: LiveOutput?) {
        live?.finish()
        // A task whose engine is the home engine was local code, or an %apply whose arguments the
        // home engine was evaluating.
        if isLocal || result.tasks.first?.engine == EngineNumber.home {
            if let error = result.tasks.first?.error(operation: "execute") { emit(renderer.localError(error)) }
            return
        }
        guard result.isBalanced else {
            show(result, skippingStreams: live?.didStream ?? false, lastLinesOnly: true)
            return
        }
        // Load-balanced: the tasks that were running show their KeyboardInterrupt; a line says what
        // became of the rest, and the values that arrived are kept.
        let notStarted = result.tasks.filter(\.wasCancelled).count
        let ran = EngineOutput.of(result).filter { output in
            output.error.map { $0.value != AsyncResult.cancelledMessage } ?? false
        }
        emit(renderer.render(ran))
        let done = result.tasks.filter { $0.isDone && !$0.isFailed }.count
        var summary = "KeyboardInterrupt: \(result.label) stopped with \(done) of \(result.tasks.count) task(s) done"
        let interrupted = result.tasks.filter { $0.isFailed && !$0.wasCancelled }.count
        if interrupted > 0 { summary += ", \(interrupted) interrupted" }
        if notStarted > 0 { summary += ", \(notStarted) never started" }
        emit(renderer.failure(summary))
        guard result.kind == .map else { return }
        // None finished: the names hold an empty list, not an older value (or nothing: a NameError).
        let names = ["_"] + (result.name.map { [$0] } ?? [])
        if (try? cluster.loadBalanced().collect(result, into: names, onlyFinished: true)) != nil {
            let places = names.map { "`\($0)`" }.joined(separator: " and ")
            emit(
                renderer.notice(
                    done == 0
                        ? "no task had finished: \(places) \(names.count == 1 ? "is" : "are") []"
                        : "the values of the \(done) finished task(s) are in \(places)"
                )
            )
        }
    }

    /// Ctrl-C at the prompt: if engines are stuck from an interrupt less than 2 s ago, restart them.
    ///
    /// - Returns: whether it restarted anything.
    @discardableResult
    public func interruptAtPrompt() -> Bool {
        guard let escalation, Clock.monotonicNanoseconds < escalation.deadline else {
            self.escalation = nil
            return false
        }
        self.escalation = nil
        do {
            try restartStuck(escalation.engines, isLocal: escalation.engines == [EngineNumber.home])
        } catch {
            emit(renderer.failure("\(error)"))
        }
        return true
    }

    private func restartStuck(_ unfinished: [Int32], isLocal: Bool) throws {
        let fixed = unrestartable(unfinished)
        if !fixed.isEmpty { emit(renderer.failure(stillRunning(fixed))) }
        let engines = unfinished.filter { !fixed.contains($0) }
        guard !engines.isEmpty else { return }
        let what =
            isLocal
            ? "the local namespace (the local variables are lost)"
            : "\(EngineRanges.named(engines)) (\(EngineRanges.possessive(engines)) variables are lost)"
        emit(renderer.failure("killing and restarting \(what)"))
        try cluster.restart(engines, immediately: true)
    }

    private func unfinishedEngines(of result: AsyncResult) -> [Int32] {
        let engines = result.tasks.filter { !$0.isDone }.compactMap(\.engine)
        return Array(Set(engines)).sorted()
    }
}
