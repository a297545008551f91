import PxClient
import PxPlatform

/// Runs commands against a cluster and writes what the user sees.
///
/// The interactive REPL, `pxsh -c`, `pxsh < FILE` and `pxsh run` all drive one of these, so a
/// command behaves the same however it was typed. Rendering is delegated to ``Renderer``; this type
/// decides what to run and what to show.
public final class Session {
    public let cluster: Cluster
    public var renderer: Renderer
    /// Where output goes (the terminal, or a buffer in tests).
    let write: (String) -> Void
    /// True once any command has failed: a scripted run then exits with status 1.
    public internal(set) var hasFailed = false
    public internal(set) var isAutopx = false
    public internal(set) var shouldQuit = false
    /// Set when local code raised SystemExit (`sys.exit(n)`, `exit()`): the status pxsh exits with.
    public internal(set) var exitStatus: Int32?
    /// How many `%run` files are running inside each other now.
    var runDepth = 0
    static let maximumRunDepth = 32
    /// True once the controller went away: nothing more can run, and even an interactive session
    /// then exits with status 1.
    public internal(set) var isClusterGone = false
    public var pxDefaults = PxOptions()
    /// The number of the next input, as in `In [3]:`.
    public internal(set) var inputNumber = 1
    /// A readable descriptor means Ctrl-C: waits stop and the engines are interrupted.
    public var interrupts: InterruptSource? {
        didSet {
            // Data moves wait inside the client library: Ctrl-C reaches them through the cluster.
            cluster.interruptDescriptor = interrupts?.descriptor
            cluster.onInterrupt =
                interrupts == nil ? nil : { [weak self] result in try self?.interruptDataMove(result) }
        }
    }
    /// Whether output may stream live with a status line (a terminal).
    public var isInteractiveTerminal = false
    /// The user's terminal, which local code's `input()` reads (set by the interactive REPL).
    public var inputTerminalPath: String?
    /// The live display of the command that is running, if it has one.
    weak var liveOutput: LiveOutput?

    var results: [AsyncResult] = []
    /// The input number each result (by its number) was started at: `%result` labels its values
    /// `Out[n]:` as the command itself did.
    var resultCells: [Int: Int] = [:]
    /// Non-blocking `-o NAME` results of %map and %apply whose values go to the local NAME once in.
    var pendingStores: [(result: AsyncResult, name: String, unordered: Bool)] = []
    /// The repr of the values of %map and %apply results (by number) once collected: the values are
    /// collected once (large ones travel as files that go once read).
    var collectedValues: [Int: String] = [:]
    /// The hidden local variables that keep values of %map and %apply results, and the result (by
    /// number) whose values each holds (see ``keptValues(ofResultNamed:)``).
    var valuesKeptAtHome: [String: Int] = [:]
    /// The named results handed over to the home engine's `px` (see ``handOverNamedResults()``), by
    /// number: true once handed over done, false while only its name and state were.
    var handedOver: [Int: Bool] = [:]
    /// Set while a magic typed with a trailing `;` runs: its `Out[...]` is not shown, as in IPython.
    var hidesResult = false
    private var nextResultNumber = 0
    var transcript: TranscriptWriter?
    /// The session so far, for `%record` to start with.
    let history = TranscriptHistory()
    /// Output escaped for transcripts, once for ``transcript`` and ``history``.
    private var transcriptOutput = TranscriptOutputLines()
    /// Commands that set the engines up (imports, definitions, pushes to all), for `%restart --replay`.
    var setupCommands: [Command] = []
    /// The prompt number of each %px setup command (by its index), so that a replayed definition's
    /// tracebacks name the cell where it was typed.
    var setupCells: [Int: Int] = [:]
    /// `%apply` calls whose values are on their way into the local namespace, oldest first (see
    /// ``settleStores(waiting:)``).
    var pendingApplyStores: [AsyncResult] = []
    /// Engines that did not stop after a Ctrl-C: a second Ctrl-C within 2 s restarts them.
    var escalation: (engines: [Int32], deadline: UInt64)?
    /// The session files running now (`pxsh run`, `%run`), outermost first: no transcript may overwrite them.
    public var filesBeingRun: [FileIdentity?] = []

    public init(cluster: Cluster, renderer: Renderer, write: @escaping (String) -> Void) {
        self.cluster = cluster
        self.renderer = renderer
        self.write = write
        cluster.onEvent = { [weak self] event in self?.show(event) }
    }

    deinit {
        transcript?.output(transcriptOutput.finish())
    }

    // MARK: - Input

    /// The prompt for the next input: `In [3]: ` or `[px 0-3] In [3]: `.
    public var prompt: String {
        let base = "In [\(inputNumber)]: "
        guard isAutopx else { return base }
        let targets = (try? (pxDefaults.targets ?? .all).resolve(among: cluster.liveEngineIDs)) ?? []
        return "[px \(EngineRanges.format(targets))] " + base
    }

    /// What a cell means: a magic, a `%autopx` line, `exit`, or Python to run locally.
    public func command(for cell: String) throws -> Command {
        let trimmed = cell.trimmingSpaces
        if trimmed.hasPrefix("%") { return try MagicParser.parse(trimmed) }
        if trimmed == "exit" || trimmed == "quit" || trimmed == "exit()" || trimmed == "quit()" { return .quit }
        if isAutopx { return .px(PxOptions(), code: cell) }
        return .python(cell)
    }

    /// Runs one cell as typed, numbering it and recording it. Returns whether it succeeded.
    @discardableResult
    public func run(cell: String) -> Bool {
        let number = inputNumber
        let finished = transcriptOutput.finish()
        if transcript != nil || history.isKept {
            let input = TranscriptFormat.input(cell, number: number, prefix: isAutopx ? prompt : nil)
            transcript?.input(input, after: finished)
            history.input(input, after: finished)
        }
        inputNumber += 1
        let ok: Bool
        var cell = cell
        // `%map f xs;` and the like: the `;` hides the value, as it does after Python (where the engine
        // drops it; %px code is Python too).
        let trimmed = cell.trimmingSpaces
        hidesResult = false
        if trimmed.hasPrefix("%") && trimmed.hasSuffix(";") && !trimmed.hasPrefix("%px") && !trimmed.hasPrefix("%%") {
            cell = String(trimmed.dropLast())
            hidesResult = true
        }
        defer { hidesResult = false }
        do {
            // What the controller said while the prompt waited (engines joined, lost or removed by another
            // client) is shown now, and the engines a magic targets are the ones there are now.
            if isAutopx || trimmed.hasPrefix("%") { try cluster.poll() }
            storeFinishedValues()
            handOverNamedResults()
            ok = try execute(try command(for: cell), number: number)
        } catch let error as MagicError {
            emit(renderer.failure(error.description))
            ok = false
        } catch let error as RemoteError {
            emit(
                error.engine == EngineNumber.home
                    ? renderer.localError(error) : renderer.render([EngineOutput(engine: error.engine, error: error)])
            )
            ok = false
        } catch let error as CompositeError {
            emit(renderer.render(error.errors.map { EngineOutput(engine: $0.engine, error: $0) }))
            ok = false
        } catch ClusterError.disconnected(let why) {
            // Nothing can run without the controller: say so and leave instead of failing every line.
            emit(renderer.failure("\(why); leaving"))
            shouldQuit = true
            isClusterGone = true
            ok = false
        } catch {
            emit(renderer.failure("\(error)"))
            ok = false
        }
        settleStores()
        if !ok { hasFailed = true }
        return ok
    }

    /// Reports the stores of `%apply` values into the local namespace that have finished, or waits for
    /// all of them. A store that failed is shown and makes the session's status a failure.
    public func settleStores(waiting: Bool = false) {
        guard !pendingApplyStores.isEmpty else { return }
        if !waiting { try? cluster.poll() }
        while let call = pendingApplyStores.first, waiting || call.isStoreSettled {
            pendingApplyStores.removeFirst()
            do {
                try cluster.loadBalanced().finishStoring(call)
            } catch {
                if let kept = keptValues(of: call) { valuesKeptAtHome[kept] = nil }
                emit(renderer.failure("the value of \(call.summary) was not stored locally"))
                if let error = error as? RemoteError { emit(renderer.localError(error)) } else { emit("\(error)\n") }
                hasFailed = true
            }
        }
    }

    /// Whether a plain-Python cell is complete, asking the home engine (as Jupyter's is_complete)
    /// unless the line alone says so (``PythonLine/isCertainlyComplete(_:)``); complete when it cannot tell.
    public func completeness(of code: String) -> Completeness {
        if PythonLine.isCertainlyComplete(code) { return Completeness(status: .complete) }
        return (try? cluster.isComplete(code)) ?? Completeness(status: .complete)
    }

    /// Records the rest of the session as a transcript in `path`.
    public func startRecording(to path: String) throws {
        try refuseToOverwriteAFileBeingRun(path, by: "--record")
        transcript = try TranscriptWriter(path: path, header: transcriptHeader)
    }

    /// A transcript written over the session file that is running would lose its source.
    func refuseToOverwriteAFileBeingRun(_ path: String, by option: String) throws {
        guard let target = FileIdentity(reaching: path), filesBeingRun.contains(target) else { return }
        throw ClusterError.invalidRequest(
            "\(option) \(path): that is the session file being run; recording would overwrite it"
        )
    }

    /// What output depends on: the engine count, the width and the engines' Python.
    public var transcriptHeader: TranscriptHeader {
        TranscriptHeader(
            engines: cluster.engineList.count,
            width: renderer.width,
            python: (try? PythonInstallation.locate(cluster.pythonExecutable))?.version
        )
    }

    // MARK: - Output

    func emit(_ text: String) {
        guard !text.isEmpty else { return }
        write(text)
        guard transcript != nil || history.isKept else { return }
        let lines = transcriptOutput.add(TranscriptFormat.stripEscapes(text))
        transcript?.output(lines)
        history.output(lines)
    }

    /// Shows a value (`Out[n]: ...`, `x = ...`) unless the command ended with `;`.
    func emitValue(_ text: String) {
        if !hidesResult { emit(text) }
    }

    private func show(_ event: ClusterEvent) {
        guard let liveOutput else { return showMessage(for: event) }
        liveOutput.interject { showMessage(for: event) }
    }

    private func showMessage(for event: ClusterEvent) {
        switch event {
        case .engineDied(let engine, let rank, let cause, let isRestarting, let host):
            if let host {
                emit(renderer.failure("engine \(engine) (rank \(rank), host \(host)) lost: \(cause)"))
            } else {
                let isHome = engine == EngineNumber.home
                let label = isHome ? "the local namespace" : "engine \(engine) (rank \(rank))"
                let lost = isHome ? "the local variables are lost" : "its variables are lost"
                emit(renderer.failure("\(label) died: \(cause)" + (isRestarting ? "; restarting it (\(lost))" : "")))
            }
        case .engineStarted:
            break  // The table shows it; restarts were announced with the death.
        case .engineRemoved(let engine):
            emit(renderer.notice("engine \(engine) was removed by another client"))
        case .taskRetried:
            break  // Its result lists the retry with its other notices, once, after the engine's death.
        case .notice(let text):
            emit(renderer.notice(text))
        }
    }

    // MARK: - Results registry

    func register(_ result: AsyncResult) {
        // A name names the newest result: an older one of the same name keeps only its number.
        if let name = result.name {
            for older in results where older.name == name { older.name = nil }
        }
        nextResultNumber += 1
        result.number = nextResultNumber
        results.append(result)
        resultCells[result.number] = inputNumber - 1
        // Keep the registry bounded: drop the oldest finished results.
        if results.count > 1_000, let index = results.firstIndex(where: { $0.isReady && $0.name == nil }) {
            resultCells[results[index].number] = nil
            collectedValues[results[index].number] = nil
            results.remove(at: index)
        }
    }

    /// The number ``register(_:)`` gives the next result.
    var nextResultNumberToRegister: Int { nextResultNumber + 1 }

    /// Takes back the number of the last result registered: it turned out to be no job.
    func unregister(_ result: AsyncResult) {
        guard results.last === result else { return }
        results.removeLast()
        resultCells[result.number] = nil
        nextResultNumber -= 1
    }

    /// The result called `name` (`ar`, `#7` or `7`), or the last one.
    func result(named name: String?) throws -> AsyncResult {
        guard let name else {
            guard let last = results.last else { throw ClusterError.invalidRequest("no AsyncResult yet") }
            return last
        }
        let number = Int(name.hasPrefix("#") ? String(name.dropFirst()) : name)
        if let found = results.last(where: { $0.name == name || ($0.number == number && number != nil) }) {
            return found
        }
        throw ClusterError.invalidRequest("no AsyncResult named \(name) (see %jobs)")
    }

    func targets(_ spec: TargetSpec?) throws -> [Int32] {
        try (spec ?? pxDefaults.targets ?? .all).resolve(among: cluster.liveEngineIDs)
    }
}

/// A source of Ctrl-C presses for a session (the REPL's SIGINT self-pipe).
public protocol InterruptSource: AnyObject {
    /// Readable when Ctrl-C was pressed.
    var descriptor: FileDescriptor { get }
    /// How many presses arrived since the last call; clears them.
    func takePending() -> Int
}
