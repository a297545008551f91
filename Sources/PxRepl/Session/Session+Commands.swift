import PxClient
import PxPlatform

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Running commands

extension Session {
    /// Runs a command. Returns whether it succeeded; errors are shown, never thrown.
    @discardableResult
    func execute(_ command: Command, number: Int) throws -> Bool {
        switch command {
        case .python(let code):
            return try runLocally(code, number: number)
        case .px(let flags, let code):
            return try runPx(code, options: flags.merged(over: pxDefaults), number: number)
        case .autopx:
            return toggleAutopx()
        case .pxconfig(let flags):
            return try configurePx(flags)
        case .pxresult(let name):
            return try showOutcome(ofResultNamed: name)
        case .push(let assignments, let spec):
            return try push(assignments, to: spec)
        case .pull(let names, let spec):
            return try pull(names, from: spec)
        case .scatter(let name, let expression, let spec):
            return try scatter(name, expression: expression, to: spec)
        case .gather(let name, let spec):
            return try gather(name, from: spec)
        case .map(let options, let call):
            return try runMap(options, call: call)
        case .apply(let call, let name):
            return try runApply(call, name: name, number: number)
        case .jobs:
            return try showJobs()
        case .wait(let name, let timeout):
            return try waitFor(resultNamed: name, timeout: timeout)
        case .abort(let name):
            return try abort(resultNamed: name)
        case .result(let name, let storeAs):
            return try showResult(named: name, storeAs: storeAs)
        case .timeline(let name):
            return try showTimeline(ofResultNamed: name)
        case .engines:
            return try showEngines()
        case .interrupt(let spec):
            return try interruptEngines(spec)
        case .restart(let spec, let replay):
            return try restartEngines(spec, replay: replay)
        case .listSetup:
            return showSetup()
        case .add(let count):
            return try addEngines(count)
        case .remove(let spec):
            return try removeEngines(spec)
        case .who(let spec):
            return try showVariables(on: spec)
        case .record(let path):
            return try record(to: path)
        case .run(let path):
            return try runFile(path)
        case .help(let name):
            return showHelp(name)
        case .quit:
            return quit()
        }
    }

    // MARK: - %px settings

    /// Turns `%autopx` on or off.
    private func toggleAutopx() -> Bool {
        isAutopx.toggle()
        emit(
            renderer.notice(
                isAutopx ? "%autopx on: plain lines run on the engines (%autopx again to stop)" : "%autopx off"
            )
        )
        return true
    }

    /// Sets the defaults of `%px`, or shows them when no flag is given.
    private func configurePx(_ flags: PxOptions) throws -> Bool {
        // Refused now rather than at every %px after it.
        if flags.targets != nil { _ = try targets(flags.targets) }
        pxDefaults = flags.merged(over: pxDefaults)
        pxDefaults.name = nil
        pxDefaults.setup = false
        if flags == PxOptions() {
            let d = pxDefaults
            emit(
                "targets: \(d.targets ?? .all), block: \(d.block ?? true), local: \(d.local), "
                    + "stream: \(d.stream.map { "\($0)" } ?? "on a terminal"), "
                    + "group-outputs: \((d.groupOutputs ?? .engine).rawValue), "
                    + "timeout: \(d.timeout.map { Renderer.seconds($0) } ?? "none")\n"
            )
        }
        return true
    }

    // MARK: - Moving data

    /// Copies local values to the targets (`%push`); a push to all is setup that `%restart --replay` repeats.
    private func push(_ assignments: [Command.Assignment], to spec: TargetSpec?) throws -> Bool {
        let targets = try targets(spec)
        try cluster.view(targets).push(assignments.map { ($0.name, $0.expression) })
        if spec == nil || spec == .all { setupCommands.append(.push(assignments, targets: spec)) }
        return true
    }

    /// Shows the targets' values and stores them locally (`%pull`).
    private func pull(_ names: [String], from spec: TargetSpec?) throws -> Bool {
        let values = try cluster.view(try targets(spec)).pull(names)
        emitValue(renderer.pulled(values, names: names))
        return true
    }

    /// Splits a local sequence among the targets (`%scatter`).
    private func scatter(_ name: String, expression: String, to spec: TargetSpec?) throws -> Bool {
        try cluster.view(try targets(spec)).scatter(name, expression: expression)
        if spec == nil || spec == .all {
            setupCommands.append(.scatter(name: name, expression: expression, targets: spec))
        }
        return true
    }

    /// Concatenates the targets' blocks into a local variable (`%gather`).
    private func gather(_ name: String, from spec: TargetSpec?) throws -> Bool {
        let repr = try cluster.view(try targets(spec)).gather(name)
        emitValue(renderer.assignment(name, repr))
        return true
    }

    // MARK: - %apply

    /// One load-balanced call (`%apply`).
    private func runApply(_ call: String, name: String?, number: Int) throws -> Bool {
        // The value goes home as `_`, the -o name and the result's kept values: the controller has
        // the home engine store it as soon as the call succeeds (see ``settleStores(waiting:)``).
        let kept = Session.keptValues(ofResultNamed: name)
        let names = ["_"] + (name.map { [$0] } ?? []) + [kept]
        let result = try cluster.loadBalanced().apply(function: call, arguments: "", name: name, storingValueIn: names)
        register(result)
        let isReady = try waitInterruptibly(result, timeout: nil)
        // A call that the home engine could not pack (or whose arguments Ctrl-C stopped there) never
        // ran: as local code that failed, it is no job, and its error is shown as local code's.
        if let error = result.errors.first, error.engine == EngineNumber.home {
            unregister(result)
            if isReady { throw error }
        }
        guard isReady else { return false }
        return try finishApply(result, number: number)
    }

    // MARK: - Results

    /// Waits for a result and shows its outcome (`%pxresult`).
    private func showOutcome(ofResultNamed name: String?) throws -> Bool {
        if let answer = try pythonResult(.show, name) {
            if answer.count >= 2 { emit(answer[0] + "\n") }
            return answer.count >= 2 && answer[1] != "1"
        }
        let result = try self.result(named: name)
        guard try waitInterruptibly(result, timeout: nil) else { return false }
        storeFinishedValues()
        return try showOutcome(result)
    }

    /// The table of results (`%jobs`).
    private func showJobs() throws -> Bool {
        try cluster.poll()
        try cluster.refreshStates(of: results)
        emit(renderer.jobs(results.map(Renderer.JobRow.init) + pythonJobRows()))
        return true
    }

    /// Waits for a result (`%wait`); a failed one shows its errors.
    private func waitFor(resultNamed name: String?, timeout: Double?) throws -> Bool {
        if let answer = try pythonResult(.wait, name, argument: timeout.map { String($0) } ?? "") {
            guard answer.count >= 3 else { return false }
            if answer[0] != "1" { emit(renderer.failure("\(answer[2]) is still running")) }
            if !answer[1].isEmpty { emit(renderer.failure(answer[1])) }
            return answer[0] == "1" && answer[1].isEmpty
        }
        let result = try self.result(named: name)
        guard try waitInterruptibly(result, timeout: timeout) else {
            if !result.isReady { emit(renderer.failure("\(result.summary) is still running")) }
            return false
        }
        // A failed result shows its errors; a good one needs no output.
        storeFinishedValues()
        return result.isFailed ? show(result) : true
    }

    /// Takes back a result's tasks that have not started (`%abort`).
    private func abort(resultNamed name: String?) throws -> Bool {
        if let answer = try pythonResult(.abort, name) {
            if let text = answer.first { emit(renderer.notice(text)) }
            return !answer.isEmpty
        }
        let result = try self.result(named: name)
        guard !result.tasks.isEmpty else { return true }
        let outcome = try cluster.abort(result)
        emit(
            renderer.notice(
                "aborted \(Renderer.count(outcome.aborted, "task"))"
                    + (outcome.running > 0 ? "; \(outcome.running) already running" : "")
            )
        )
        return true
    }

    /// Shows a result's values, or stores them locally (`%result NAME [-o VAR]`).
    private func showResult(named name: String, storeAs: String?) throws -> Bool {
        if let answer = try pythonResult(.show, name, argument: storeAs ?? "") {
            if answer.count >= 2 { emit(answer[0] + "\n") }
            return answer.count >= 2 && answer[1] != "1"
        }
        let result = try self.result(named: name)
        guard try waitInterruptibly(result, timeout: nil) else { return false }
        storeFinishedValues()
        if let storeAs {
            guard hasValues(result) else {
                throw ClusterError.invalidRequest(
                    "-o stores the values of a %map or %apply result; %px values stay on the engines (see %pull)"
                )
            }
            guard !result.isFailed else { return show(result) }
            emitValue(renderer.assignment(storeAs, try values(of: result, into: [storeAs])))
            return true
        }
        return try showOutcome(result)
    }

    /// A result's tasks as a per-engine chart (`%timeline`).
    private func showTimeline(ofResultNamed name: String?) throws -> Bool {
        if let chart = try pythonTimeline(name) {
            emit(chart)
            return !chart.isEmpty
        }
        let result = try self.result(named: name)
        try cluster.poll()
        emit(renderer.timeline(Renderer.TimelineTask.of(result), title: "\(result.summary)"))
        return true
    }

    // MARK: - Engines

    /// The engine table (`%engines`).
    private func showEngines() throws -> Bool {
        emit(renderer.engines(try cluster.engines(), now: Clock.realtimeNanoseconds))
        return true
    }

    /// Sends Ctrl-C to the busy target engines (`%interrupt`).
    private func interruptEngines(_ spec: TargetSpec?) throws -> Bool {
        let interrupted = try cluster.interrupt(try targets(spec ?? .all))
        emit(
            renderer.notice(
                interrupted.isEmpty
                    ? "no target engine is busy" : "interrupted \(EngineRanges.named(interrupted))"
            )
        )
        return true
    }

    /// Restarts engines, replaying the setup if asked (`%restart`).
    private func restartEngines(_ spec: TargetSpec?, replay: Bool) throws -> Bool {
        let targets = try (spec ?? .all).resolve(among: cluster.engineList.map(\.id))
        return try restart(targets, replay: replay)
    }

    /// Starts more engines (`%add`). Ctrl-C keeps those that are up and removes those still starting,
    /// so that none joins later unasked.
    private func addEngines(_ count: Int) throws -> Bool {
        let ranks = try currentRanks()
        do {
            let added = try cluster.addEngines(count, wakingOn: interrupts?.descriptor)
            emit(
                renderer.notice(
                    added.isEmpty
                        ? "added no engine (another client removed them as they started)"
                        : "added \(EngineRanges.named(added))"
                )
            )
        } catch ClusterError.interrupted {
            _ = interrupts?.takePending()
            if isInteractiveTerminal { write("\r\u{1B}[K") }
            let new = try cluster.engines().filter { $0.id >= 0 && ranks[$0.id] == nil }
            let up = new.filter { $0.state == .idle || $0.state == .busy }.map(\.id)
            let starting = new.map(\.id).filter { !up.contains($0) }
            if !starting.isEmpty { try cluster.removeEngines(starting) }
            emit(
                renderer.failure(
                    "^C: %add stopped: "
                        + (up.isEmpty ? "no engine had started" : "added \(EngineRanges.named(up))")
                        + (starting.isEmpty ? "" : "; removed \(EngineRanges.named(starting)), still starting")
                )
            )
            try settleRanks(before: ranks)
            return false
        }
        try settleRanks(before: ranks)
        return true
    }

    /// Stops and removes engines (`%remove`).
    private func removeEngines(_ spec: TargetSpec) throws -> Bool {
        let targets = try spec.resolve(among: cluster.liveEngineIDs)
        let ranks = try currentRanks()
        try cluster.removeEngines(targets)
        emit(renderer.notice("removed \(EngineRanges.named(targets))"))
        try settleRanks(before: ranks)
        return true
    }

    /// The engines' variables side by side (`%who`).
    private func showVariables(on spec: TargetSpec?) throws -> Bool {
        emit(renderer.who(try cluster.view(try targets(spec)).who()))
        return true
    }

    /// What `%restart --replay` would replay (`%restart --list`).
    private func showSetup() -> Bool {
        emit(
            setupCommands.isEmpty
                ? renderer.notice(
                    "no setup to replay yet (imports, definitions, pushes and scatters to all engines)"
                )
                : renderer.notice("%restart --replay would replay \(setupListing)")
        )
        return true
    }

    // MARK: - The session

    /// Starts or stops recording a transcript (`%record`).
    ///
    /// The transcript starts with the session so far, and leaves out the `%record` cells and what they print: `pxsh run
    /// --check` replays it in a new session, where only the whole session gives the same output, and where
    /// a `%record` would overwrite the file being checked.
    private func record(to path: String?) throws -> Bool {
        history.dropCurrentCell()
        transcript?.dropPendingInput()
        if let path {
            try refuseToOverwriteAFileBeingRun(path, by: "%record")
            let writer = try TranscriptWriter(path: path, header: transcriptHeader)
            if let earlier = history.text {
                writer.writeVerbatim(earlier)
                write(renderer.notice("recording to \(path), from In [1]"))
            } else {
                write(
                    renderer.notice(
                        "recording to \(path) from here: the session before it printed over "
                            + "\(TranscriptHistory.limit >> 20) MiB, so `--check` of it may number engines' outputs differently"
                    )
                )
            }
            transcript = writer
        } else {
            write(renderer.notice(transcript.map { "stopped recording to \($0.path)" } ?? "not recording"))
            transcript = nil
        }
        return true
    }

    /// The overview of the magics, or one magic's help (`%help`).
    private func showHelp(_ name: String?) -> Bool {
        emit((name.flatMap(MagicCatalog.named)?.help ?? MagicCatalog.overview) + "\n")
        return true
    }

    /// Ends the session after this command (`%quit`).
    private func quit() -> Bool {
        shouldQuit = true
        return true
    }

    // MARK: - Local code

    private func runLocally(_ code: String, number: Int) throws -> Bool {
        let result = try cluster.executeLocally(code, cell: number, terminal: inputTerminalPath)
        // Local output appears as it is printed, as in a Python REPL.
        result.onOutput = { [weak self] _, _, bytes in self?.emit(bytes.displayText) }
        guard try waitInterruptibly(result, timeout: nil, isLocal: true) else { return false }
        let task = result.tasks[0]
        if let error = task.error(operation: "execute") {
            if error.name == "SystemExit" { return leave(with: error.value) }
            emit(renderer.localError(error))
            return false
        }
        if let repr = task.executeReply?.resultRepr {
            emit(renderer.localResult(repr, count: number))
        }
        return true
    }

    /// Local code raised SystemExit: the session ends as `python` would, with its code as the exit
    /// status (none: 0; a number: that; anything else is shown, and the status is 1).
    private func leave(with code: String) -> Bool {
        shouldQuit = true
        switch code {
        case "", "None": exitStatus = 0
        default:
            if let status = Int32(code) {
                exitStatus = status
            } else {
                emit(code + "\n")
                exitStatus = 1
            }
        }
        return exitStatus == 0
    }

    // MARK: - %px

    private func runPx(_ code: String, options: PxOptions, number: Int) throws -> Bool {
        let targets = try targets(options.targets)
        let result = try cluster.view(targets).execute(code, name: options.name, cell: number)
        register(result)
        if options.local { _ = try runLocally(code, number: number) }
        guard options.block ?? true else {
            emit(result.summary + "\n")
            return true
        }
        let live = LiveOutput(session: self, result: result, enabled: options.stream ?? isInteractiveTerminal)
        defer { live.finish() }
        guard try waitInterruptibly(result, timeout: options.timeout, live: live) else {
            if !result.isReady, options.timeout != nil {
                emit(
                    renderer.failure(
                        "timed out after \(Renderer.seconds(options.timeout ?? 0)); \(result.summary) keeps running"
                    )
                )
            }
            return false
        }
        live.finish()
        let ok = show(result, grouping: options.groupOutputs ?? .engine, skippingStreams: live.didStream)
        if ok && targets == cluster.liveEngineIDs && options.targets.map({ $0 == .all }) ?? true {
            // Only what sets the engines up is replayed: its imports and definitions, or all of a --setup cell.
            let setup =
                options.setup ? code : PythonLine.certainlyHoldsNoSetup(code) ? "" : try setupPart(of: code)
            if !setup.trimmingSpaces.isEmpty {
                setupCells[setupCommands.count] = number
                setupCommands.append(.px(PxOptions(setup: true), code: setup))
            }
        }
        return ok
    }

    /// Renders a finished result. Returns whether it succeeded.
    @discardableResult
    ///
    /// - Parameters:
    ///   - skippingStreams: leave out what the tasks printed (it was streamed already);
    ///   - lastLinesOnly: show only the last lines of what each task printed (after Ctrl-C, so that a
    ///     flood of output does not hold the prompt back).
    func show(
        _ result: AsyncResult,
        grouping: PxOptions.GroupOutputs = .engine,
        skippingStreams: Bool = false,
        lastLinesOnly: Bool = false
    ) -> Bool {
        var outputs = result.kind == .map ? EngineOutput.ofMap(result) : EngineOutput.of(result)
        for index in outputs.indices where skippingStreams || lastLinesOnly {
            outputs[index].stdout = skippingStreams ? "" : LastLines.of(outputs[index].stdout)
            outputs[index].stderr = skippingStreams ? "" : LastLines.of(outputs[index].stderr)
        }
        if result.kind == .map {
            // What the tasks printed, per engine, with the failed items.
            emit(renderer.render(outputs) + (result.errors.isEmpty ? renderer.notice("\(result.summary)") : ""))
        } else {
            emit(renderer.render(outputs, grouping: grouping))
        }
        for notice in result.notices { emit(renderer.notice(notice)) }
        return !result.isFailed
    }

    // MARK: - %map and %apply

    private func runMap(_ options: MapOptions, call: String) throws -> Bool {
        let result = try cluster.loadBalanced().map(
            function: call,
            sequence: "",
            chunkSize: options.chunkSize.map { .fixed($0) } ?? .auto,
            retries: options.retries,
            name: options.name,
            // Its values come home as its tasks end when they will be collected: at once when it
            // blocks, or once it is ready into NAME.
            valuesComeHome: options.block || options.name != nil ? (options.unordered ? .completion : .items) : nil
        )
        register(result)
        guard options.block else {
            if let name = options.name { pendingStores.append((result, name, options.unordered)) }
            emit(result.summary + "\n")
            return true
        }
        let progress = LiveOutput(session: self, result: result, enabled: isInteractiveTerminal, showsLines: false)
        defer { progress.finish() }
        guard try waitInterruptibly(result, timeout: nil, live: progress) else { return false }
        progress.finish()
        // show(_:) says the notices (a retried task) after the errors.
        guard !result.isFailed else { return show(result) }
        for notice in result.notices { emit(renderer.notice(notice)) }
        emit(renderer.render(EngineOutput.ofMap(result)))
        let repr = try values(of: result, into: ["_"] + (options.name.map { [$0] } ?? []), unordered: options.unordered)
        emitValue(renderer.localResult(repr, count: inputNumber - 1))
        return true
    }

    private func finishApply(_ result: AsyncResult, number: Int) throws -> Bool {
        guard !result.isFailed else { return show(result) }
        for notice in result.notices { emit(renderer.notice(notice)) }
        // The call's own output, with its engine's prefix; the value is on its way home (as `_`):
        // the home engine stores it before anything after it (see ``settleStores(waiting:)``).
        var output = EngineOutput.of(result)
        let repr = output[0].result?.repr
        output[0].result = nil
        emit(renderer.render(output))
        pendingApplyStores.append(result)
        valuesKeptAtHome[Session.keptValues(ofResultNamed: result.name)] = result.number
        if let repr {
            collectedValues[result.number] = repr
            if repr != "None" { emitValue(renderer.localResult(repr, count: number)) }
        }
        return true
    }

    // MARK: - Values of %map and %apply

    /// Whether a result's values come home: a %map's, or a %apply's.
    func hasValues(_ result: AsyncResult) -> Bool {
        result.kind == .map || (result.kind == .apply && result.tasks.count == 1)
    }

    /// Stores a finished %map's or %apply's values in local variables; returns their repr.
    ///
    /// The values come home once (large ones travel as files that go once read): a hidden local
    /// variable keeps them, and asking again (`%result NAME -o VAR`) binds the names to it.
    ///
    /// - Throws: ``ClusterError/invalidRequest(_:)`` when `names` are given for values that came home
    ///   but are no longer kept there (see ``keptValues(ofResultNamed:)``).
    func values(of result: AsyncResult, into names: [String], unordered: Bool = false) throws -> String {
        if let repr = collectedValues[result.number] {
            if !names.isEmpty {
                guard let kept = keptValues(of: result) else {
                    throw ClusterError.invalidRequest(
                        "the values of #\(result.number) are no longer kept: the local namespace keeps those of the "
                            + "last %map or %apply, and of each result named with -o (`%map -o NAME ...`)"
                    )
                }
                // Cell 0: no prompt has that number, so no cell's source is shadowed in tracebacks.
                let binding = try cluster.executeLocally((names + [kept]).joined(separator: " = "), cell: 0)
                try cluster.wait(for: binding)
                if let error = binding.errors.first { throw error }
            }
            return repr
        }
        let kept = Session.keptValues(ofResultNamed: result.name)
        let repr =
            result.kind == .map
            ? try cluster.loadBalanced().collect(result, into: names + [kept], unordered: unordered)
            : try cluster.loadBalanced().collectValue(result, into: names + [kept])
        collectedValues[result.number] = repr
        valuesKeptAtHome[kept] = result.number
        return repr
    }

    /// The hidden local variable that keeps the values of the results named `name` (`-o NAME`), or of
    /// the unnamed ones. Each holds the values of the last such result that came home, so that the
    /// older ones are freed (a variable of the user's may still hold them) and the home engine does not
    /// grow with every %map.
    static func keptValues(ofResultNamed name: String?) -> String { "_pxsh_values" + (name.map { "_" + $0 } ?? "") }

    /// The hidden local variable that holds `result`'s values now; nil if none does.
    func keptValues(of result: AsyncResult) -> String? {
        let kept = Session.keptValues(ofResultNamed: result.name)
        return valuesKeptAtHome[kept] == result.number ? kept : nil
    }

    /// `-o NAME` of a non-blocking %map: stores the values of those that are done in their local NAME.
    /// Runs before every command, so NAME holds the values from the first command after they are in.
    func storeFinishedValues() {
        guard !pendingStores.isEmpty else { return }
        try? cluster.poll()
        var waiting: [(result: AsyncResult, name: String, unordered: Bool)] = []
        for entry in pendingStores {
            guard entry.result.isReady else {
                waiting.append(entry)
                continue
            }
            // A failed result has no values; %wait and %result show its errors.
            if !entry.result.isFailed {
                _ = try? values(of: entry.result, into: [entry.name], unordered: entry.unordered)
            }
        }
        pendingStores = waiting
    }

    /// `%result` and `%pxresult` of a finished result: a %map's or %apply's value as the command
    /// itself showed it (`Out[n]:` with the command's number), a %px's outputs.
    func showOutcome(_ result: AsyncResult) throws -> Bool {
        guard hasValues(result), !result.isFailed else { return show(result) }
        for notice in result.notices { emit(renderer.notice(notice)) }
        let cell = resultCells[result.number] ?? inputNumber - 1
        if result.kind == .apply {
            var output = EngineOutput.of(result)
            output[0].result = nil
            emit(renderer.render(output))
        } else {
            emit(renderer.render(EngineOutput.ofMap(result)))
        }
        // Values that are no longer kept are shown as they came, and leave `_` as it is.
        let isKept = collectedValues[result.number] == nil || keptValues(of: result) != nil
        let repr = try values(of: result, into: isKept ? ["_"] : [])
        emitValue(renderer.localResult(repr, count: cell))
        return true
    }

    // MARK: - Engine life cycle

    private func restart(_ targets: [Int32], replay: Bool) throws -> Bool {
        // Engines that joined from other hosts are restarted only through the ssh launcher: for the
        // others the controller says why.
        let ranks = try currentRanks()
        let restarted: Set<Int32>
        do {
            restarted = Set(try cluster.restart(targets, wakingOn: interrupts?.descriptor))
        } catch ClusterError.interrupted {
            // The old processes are ending or gone: the restart goes on without us waiting for it.
            _ = interrupts?.takePending()
            if isInteractiveTerminal { write("\r\u{1B}[K") }
            let local = targets.filter { (cluster.knownEngines[$0]?.host ?? "local") == "local" }
            let waiting = try cluster.engines().filter { local.contains($0.id) && $0.state == .starting }.map(\.id)
            let state =
                waiting.isEmpty
                ? "\(EngineRanges.named(local)) restarted"
                : "\(EngineRanges.named(waiting)) \(waiting.count == 1 ? "is" : "are") still starting (work sent to "
                    + "\(EngineRanges.pronoun(waiting)) runs once up)"
            emit(
                renderer.failure(
                    "^C: stopped waiting for %restart: \(state); \(EngineRanges.possessive(local)) variables are lost"
                        + (replay ? "; the setup was not replayed" : "")
                )
            )
            return false
        }
        let isComplete = targets.allSatisfy(restarted.contains)
        let targets = targets.filter(restarted.contains)
        guard !targets.isEmpty else { return false }
        emit(
            renderer.notice(
                "restarted \(EngineRanges.named(targets)) (\(EngineRanges.possessive(targets)) variables are lost)"
            )
        )
        try settleRanks(before: ranks)
        guard replay else { return isComplete }
        guard !setupCommands.isEmpty else {
            emit(renderer.notice("no setup to replay (imports, definitions, pushes and scatters to all engines)"))
            return isComplete
        }
        emit(renderer.notice("replaying \(setupListing)"))
        for (index, command) in setupCommands.enumerated() {
            switch command {
            case .px(_, let code):
                let result = try cluster.view(targets).execute(code, label: "%px (replay)", cell: setupCells[index])
                try cluster.wait(for: result, interrupt: interrupts?.descriptor)
                if result.isFailed { return show(result) }
            case .push(let assignments, _):
                try cluster.view(targets).push(assignments.map { ($0.name, $0.expression) })
            case .scatter(let name, let expression, _):
                // The blocks depend on every engine: scatter again over all of them.
                try cluster.view(cluster.liveEngineIDs).scatter(name, expression: expression)
            default:
                break
            }
        }
        return true
    }

    /// The setup commands, one per line after a count: `3 setup commands:\n  %px import time ...`.
    var setupListing: String {
        var text = Renderer.count(setupCommands.count, "setup command") + ":"
        for command in setupCommands {
            switch command {
            case .px(_, let code):
                let lines = code.split(separator: "\n", omittingEmptySubsequences: false)
                text += "\n  %px " + lines.joined(separator: "\n      ")
            case .push(let assignments, _):
                text +=
                    "\n  %push "
                    + assignments.map { $0.expression.isEmpty ? $0.name : "\($0.name)=\($0.expression)" }.joined(
                        separator: " "
                    )
            case .scatter(let name, let expression, _):
                text += "\n  %scatter \(name)" + (expression.isEmpty ? "" : " \(expression)")
            default:
                break
            }
        }
        return text
    }

    /// The statements of a %px cell that set the engines up (see ``MagicCatalog`` on `%restart`).
    private func setupPart(of code: String) throws -> String {
        try cluster.setupPart(of: code)
    }

    // MARK: - Ranks

    /// Each engine's rank, by id, as the controller numbers them.
    func currentRanks() throws -> [Int32: Int] {
        var ranks: [Int32: Int] = [:]
        for row in try cluster.engines() where row.id >= 0 {
            ranks[row.id] = row.rank
        }
        return ranks
    }

    /// After engines came or went: every engine's `rank` and `size` as the controller now numbers
    /// them (ranks 0..size-1), and one line naming the engines whose rank changed.
    func settleRanks(before: [Int32: Int]) throws {
        let rows = try cluster.engines().filter { $0.id >= 0 }
        var updates: [AsyncResult] = []
        for row in rows where row.state != .dead {
            let code = "rank, size = \(row.rank), \(rows.count)"
            // Cell 0: no prompt has that number, so no cell's source is shadowed in tracebacks.
            updates.append(try cluster.view([row.id]).execute(code, label: "%engines (ranks)", cell: 0))
        }
        for update in updates { try cluster.wait(for: update) }
        let moved = rows.filter { row in before[row.id].map { $0 != row.rank } ?? false }
        guard !moved.isEmpty else { return }
        emit(
            renderer.notice(
                "ranks changed: "
                    + moved.map { "engine \($0.id) is now rank \($0.rank) (was \(before[$0.id] ?? -1))" }.joined(
                        separator: ", "
                    )
            )
        )
    }

    // MARK: - Files

    private func runFile(_ path: String) throws -> Bool {
        // A file that runs itself would recurse until the stack overflows.
        guard runDepth < Session.maximumRunDepth else {
            throw ClusterError.invalidRequest(
                "%run \(path): files run inside each other more than \(Session.maximumRunDepth) deep (does one run itself?)"
            )
        }
        runDepth += 1
        defer { runDepth -= 1 }
        let text = try SessionFile.read(path)
        filesBeingRun.append(FileIdentity(reaching: path))
        defer { filesBeingRun.removeLast() }
        for cell in SessionFile.cells(of: text, isComplete: { self.completeness(of: $0).status != .incomplete }) {
            if !run(cell: cell) { return false }
            if shouldQuit { break }
        }
        return true
    }
}
