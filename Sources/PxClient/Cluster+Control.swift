import PxPlatform
import PxWire

// MARK: - The engines' life cycle, completion and inspection, as typed calls

extension Cluster {
    /// The engines as the controller sees them now (the home engine included, with id
    /// ``EngineNumber/home``), in id order.
    public func engines() throws -> [EngineStatus] {
        try control(.engines).compactMap { EngineStatus(line: $0.text) }
    }

    /// Sends Ctrl-C (a `KeyboardInterrupt`) to those of `engines` that are running a task.
    ///
    /// - Returns: the engines that were busy and were interrupted.
    @discardableResult
    public func interrupt(_ engines: [Int32]) throws -> [Int32] {
        let reply = try control(.interrupt, engines: engines)
        return reply.first.map { IDList.decode($0, as: Int32.self) } ?? []
    }

    /// Ctrl-C of a result: its running tasks get KeyboardInterrupt, the others never start (they
    /// end with a KeyboardInterrupt "interrupted before it started"). Another client's tasks on the
    /// same engines are not touched.
    ///
    /// - Parameter interrupt: readable when the user gives up waiting for the controller's answer (a stopped
    ///   controller never answers); ``ClusterError/interrupted`` is then thrown.
    /// - Returns: the engines of the tasks that were running, now marked as the tasks' engines.
    @discardableResult
    public func interrupt(_ result: AsyncResult, wakingOn interrupt: FileDescriptor? = nil) throws -> [Int32] {
        guard let first = try taskIDs(of: result, wakingOn: interrupt) else { return [] }
        let open = result.tasks.indices.filter { !result.tasks[$0].isDone }.map { first + UInt64($0) }
        guard !open.isEmpty else { return [] }
        let reply = try control(.interruptTasks, tasks: open, interrupt: interrupt)
        guard reply.count == 2 else { return [] }
        let engines = IDList.decode(reply[0], as: Int32.self)
        let tasks = IDList.decode(reply[1], as: UInt64.self)
        for (engine, task) in zip(engines, tasks) where task >= first && task - first < UInt64(result.tasks.count) {
            let index = Int(task - first)
            result.tasks[index].engine = engine
            result.tasks[index].isRunning = true
        }
        return Array(Set(engines)).sorted()
    }

    /// Takes back the tasks of `result` that have not started; they fail with ``TaskAborted``.
    /// Tasks already running go on.
    @discardableResult
    public func abort(_ result: AsyncResult) throws -> AbortOutcome {
        guard let first = try taskIDs(of: result) else { return AbortOutcome(aborted: 0, running: 0) }
        let open = result.tasks.indices.filter { !result.tasks[$0].isDone }.map { first + UInt64($0) }
        guard !open.isEmpty else { return AbortOutcome(aborted: 0, running: 0) }
        let reply = try control(.abort, tasks: open)
        let running = min(open.count, reply.first.flatMap { Int($0.text) } ?? 0)
        // The controller counts what it cancelled: a task may have ended meanwhile.
        let aborted = reply.count > 1 ? Int(reply[1].text) ?? 0 : open.count - running
        return AbortOutcome(aborted: aborted, running: running)
    }

    /// Restarts `engines` with the same ids and ranks and empty namespaces, and returns once they
    /// are up; then `replay` can set them up again (it gets a view of them). Each engine is asked to
    /// end as Python ends (atexit handlers, open files flushed) and killed if it has not after 2 s;
    /// `immediately` kills it at once (for engines that ignored a Ctrl-C). Remote engines are
    /// restarted through the ssh launcher that started them; others are not (the controller says why).
    ///
    /// - Parameter interrupt: readable when the user stops waiting (Ctrl-C): ``ClusterError/interrupted``
    ///   is thrown, and the engines go on restarting.
    /// - Returns: the engines that were restarted and are up.
    @discardableResult
    public func restart(
        _ engines: [Int32],
        immediately: Bool = false,
        replay: ((DirectView) throws -> Void)? = nil,
        wakingOn interrupt: FileDescriptor? = nil
    ) throws -> [Int32] {
        let reply = try control(.restart, engines: engines, argument: immediately ? "kill" : nil, interrupt: interrupt)
        try poll()
        let restarted = reply.first.map { IDList.decode($0, as: Int32.self) } ?? []
        try replay?(view(restarted))
        return restarted
    }

    /// Starts `count` more engines and returns their ids once they are up.
    ///
    /// - Parameter interrupt: readable when the user stops waiting (Ctrl-C): ``ClusterError/interrupted``
    ///   is thrown, and the engines go on starting (``engines()`` lists them).
    /// - Throws: ``ClusterError/invalidRequest(_:)`` saying why, when the cluster's launcher cannot
    ///   add engines (an MPI or Slurm job's size is fixed).
    @discardableResult
    public func addEngines(_ count: Int, wakingOn interrupt: FileDescriptor? = nil) throws -> [Int32] {
        let before = Set(engineList.map(\.id))
        let reply = try control(.add, argument: String(count), interrupt: interrupt)
        if reply.count > 1 { throw ClusterError.invalidRequest(reply[1].text) }
        try poll()
        return engineList.map(\.id).filter { !before.contains($0) }
    }

    /// Completions of `text` (the line up to the cursor) in the namespace of `engine`.
    ///
    /// A busy engine answers only after its current task; past `timeout` seconds this gives up and
    /// returns ``Completion/none``, so that a prompt never freezes.
    public func complete(_ text: String, on engine: Int32 = EngineNumber.home, timeout: Double = 0.5) -> Completion {
        guard
            let result = try? submit(
                Submission(op: .complete, targets: [engine], shared: [Bytes(text: text)]),
                label: "complete"
            ),
            (try? wait(for: result, timeout: timeout)) == true,
            let reply = result.tasks.first?.reply, reply.count >= 2, reply[0] == Bytes(text: "ok"),
            let start = Int(reply[1].text)
        else { return .none }
        return Completion(start: start, matches: reply.dropFirst(2).map(\.text))
    }

    /// Whether `code` is a complete cell of Python, as the home engine's parser says.
    public func isComplete(_ code: String) throws -> Completeness {
        let reply = try runLocally(.isComplete, [Bytes(text: code)])
        guard reply.count >= 3, let status = Completeness.Status(rawValue: reply[1].text) else {
            return Completeness(status: .complete)
        }
        return Completeness(status: status, indent: reply[2].text)
    }

    /// The statements of a cell that set engines up (imports, `def` and `class`, assignments of
    /// functions and modules), as the home engine's parser picks them; `%restart --replay` replays them.
    public func setupPart(of code: String) throws -> String {
        let reply = try runLocally(.setupPart, [Bytes(text: code)])
        return reply.count > 1 ? reply[1].text : ""
    }

    /// Runs `code` in the local namespace (the home engine). Output arrives through the result's
    /// ``AsyncResult/onOutput``.
    ///
    /// - Parameters:
    ///   - cell: the prompt number, which names the cell in tracebacks (`<In [7]>`) and numbers its
    ///     `Out[7]`; by default the home engine's own execution count.
    ///   - terminal: the path of the user's terminal, which `input()` and `sys.stdin` read while the
    ///     cell runs; without it they are at end of file, as on the engines.
    public func executeLocally(_ code: String, cell: Int? = nil, terminal: String? = nil) throws -> AsyncResult {
        var shared = [Bytes(text: code), Bytes(text: cell.map(String.init) ?? "")]
        if let terminal { shared.append(Bytes(text: terminal)) }
        return try submit(Submission(op: .execute, targets: [EngineNumber.home], shared: shared), label: "local")
    }
}
