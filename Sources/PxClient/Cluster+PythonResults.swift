import PxWire

/// What the magics ask the home engine about AsyncResults made from Python (its `px`).
public enum PythonResultQuery: String, Sendable {
    /// The rows of `%jobs` for every result made from Python.
    case jobs
    /// The tasks' engines and timings, for `%timeline`.
    case timeline
    /// Waits for the result (the argument: a timeout in seconds, or empty).
    case wait
    /// Its outputs and values, or its errors, as text.
    case show
    /// Aborts its tasks that have not started.
    case abort
    /// Hands the magics' results named with `-o` over to `px` (`px.result(NAME)`): the records follow.
    case adopt
}

extension Cluster {
    /// Asks the home engine about the AsyncResult that the local variable `name` holds (made with
    /// `px`), or about all of them for ``PythonResultQuery/jobs``. Wait on the returned result (Ctrl-C
    /// then interrupts the local namespace, whose `px` interrupts the result's engines), then read
    /// ``AsyncResult/pythonResultAnswer``.
    public func query(
        _ query: PythonResultQuery,
        pythonResult name: String = "",
        argument: String = "",
        records: [Bytes] = []
    ) throws
        -> AsyncResult
    {
        let arguments = [Bytes(text: query.rawValue), Bytes(text: name), Bytes(text: argument)] + records
        return try submit(Submission(op: .results, targets: [EngineNumber.home], shared: arguments), label: "local")
    }
}

extension AsyncResult {
    /// The answer to a finished ``Cluster/query(_:pythonResult:argument:)``: nil if it failed (see
    /// ``errors``) or the variable holds no AsyncResult; else its fields as text (for `jobs`, one
    /// tab-separated row each: id, kind, targets, state, done, total, elapsed seconds).
    public var pythonResultAnswer: [String]? {
        guard let reply = tasks.first?.reply, reply.first == Bytes(text: "ok") else { return nil }
        let fields = reply.dropFirst().map(\.text)
        guard fields.first == "found" else { return nil }
        return Array(fields.dropFirst())
    }
}
