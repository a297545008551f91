import PxClient
import PxPlatform

// MARK: - Waiting, Ctrl-C and escalation

extension Session {
    /// Waits for a result; Ctrl-C interrupts its engines instead of abandoning them.
    ///
    /// - Returns: whether the result is ready (false after a timeout or an interrupt).
    func waitInterruptibly(
        _ result: AsyncResult,
        timeout: Double?,
        isLocal: Bool = false,
        tick: (() -> Void)? = nil
    ) throws -> Bool {
        let deadline = timeout.map { Deadline(seconds: $0) }
        do {
            while !result.isReady {
                var slice: Double? = tick == nil ? nil : 0.1
                if let deadline {
                    if deadline.hasPassed { return false }
                    slice = min(slice ?? deadline.secondsLeft, deadline.secondsLeft)
                }
                try cluster.wait(for: result, timeout: slice, interrupt: interrupts?.descriptor)
                tick?()
            }
            return true
        } catch ClusterError.interrupted {
            try interrupt(result, isLocal: isLocal)
            return false
        }
    }

    /// Ctrl-C during a command: interrupt its engines, show what they report within about a second,
    /// and remember the engines that are still stuck, so that a second Ctrl-C restarts them.
    private func interrupt(_ result: AsyncResult, isLocal: Bool) throws {
        _ = interrupts?.takePending()
        let busy = unfinishedEngines(of: result)
        // Wipe the status line (and the terminal's "^C" echo) so the notice starts a clean line.
        if isInteractiveTerminal { write("\r\u{1B}[K") }
        emit(
            renderer.notice(
                "^C: interrupting \(isLocal ? "the local namespace" : "engines \(EngineRanges.format(busy))")"
            )
        )
        try cluster.interrupt(isLocal ? [EngineNumber.home] : busy)
        if result.kind == .map || result.kind == .apply { try cluster.abort(result) }
        var isReady = false
        do {
            isReady = try cluster.wait(for: result, timeout: 0.8, interrupt: interrupts?.descriptor)
        } catch ClusterError.interrupted {
            _ = interrupts?.takePending()
            try restartStuck(unfinishedEngines(of: result), isLocal: isLocal)
            isReady = try cluster.wait(for: result, timeout: 5)
        }
        if isReady {
            if isLocal, let error = result.tasks.first?.error(operation: "execute") {
                emit(renderer.localError(error))
            } else if !isLocal {
                show(result)
            }
            return
        }
        let stuck = isLocal ? [EngineNumber.home] : unfinishedEngines(of: result)
        escalation = (stuck, Clock.monotonicNanoseconds + 2_000_000_000)
        emit(
            renderer.failure(
                "\(isLocal ? "the local namespace" : "engines \(EngineRanges.format(stuck))") did not stop; "
                    + "press Ctrl-C again within 2 s to restart \(isLocal ? "it" : "them")"
            )
        )
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

    private func restartStuck(_ engines: [Int32], isLocal: Bool) throws {
        guard !engines.isEmpty else { return }
        let what =
            isLocal
            ? "the local namespace (the local variables are lost)"
            : "engines \(EngineRanges.format(engines)) (their variables are lost)"
        emit(renderer.failure("killing and restarting \(what)"))
        try cluster.restart(engines)
    }

    private func unfinishedEngines(of result: AsyncResult) -> [Int32] {
        let engines = result.tasks.filter { !$0.isDone }.compactMap(\.engine)
        return Array(Set(engines)).sorted()
    }
}
