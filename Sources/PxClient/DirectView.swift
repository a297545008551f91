import PxWire

/// A set of engines addressed directly: code and data go to each of them.
///
/// Data moves between the home engine (the local namespace) and the targets; the pickled bytes pass
/// through the controller and this client without being decoded.
public struct DirectView {
    /// The cluster the engines belong to.
    public let cluster: Cluster
    /// The engines addressed, by id.
    public let targets: [Int32]

    public init(cluster: Cluster, targets: [Int32]) {
        self.cluster = cluster
        self.targets = targets
    }

    /// Runs `code` on every target.
    ///
    /// - Parameter cell: the prompt number, which names the cell in tracebacks (`<In [7]>`); by
    ///   default each engine uses its own execution count.
    public func execute(
        _ code: String,
        label: String = "%px",
        name: String? = nil,
        cell: Int? = nil
    ) throws
        -> AsyncResult
    {
        let shared = [Bytes(text: code)] + (cell.map { [Bytes(text: String($0))] } ?? [])
        return try cluster.submit(Submission(op: .execute, targets: targets, shared: shared), label: label, name: name)
    }

    /// Copies local values to the targets: each `(name, expression)` sends the local `expression`
    /// (the variable `name` when it is empty) as `name`. Blocks until done.
    public func push(_ assignments: [(name: String, expression: String)]) throws {
        // Nothing is shown, so no repr is made: a value's repr may be slow, or never end.
        let reply = try cluster.runLocally(
            .exportValues,
            assignments.flatMap { [Bytes(text: $0.name), Bytes(text: $0.expression)] }
        )
        guard let (blob, _) = Blob.read(reply, at: 1) else { throw malformed("push") }
        defer { SharedMemoryFiles.release(blob) }
        try cluster.finish(try cluster.submit(Submission(op: .import, targets: targets, shared: blob), label: "%push"))
    }

    /// Fetches variables from each target; stores them locally as lists (one item per target).
    ///
    /// - Returns: each target's reprs of the variables, in target order.
    public func pull(_ names: [String]) throws -> [(engine: Int32, reprs: [String])] {
        let result = try cluster.submit(
            Submission(op: .export, targets: targets, shared: names.flatMap { [Bytes(text: $0), []] }),
            label: "%pull"
        )
        try cluster.finish(result)
        defer { SharedMemoryFiles.release(result) }
        var blobs: [Bytes] = []
        var shown: [(Int32, [String])] = []
        for task in result.tasks {
            let reply = task.reply ?? []
            guard reply.count > names.count, let (blob, _) = Blob.read(reply, at: 1 + names.count) else {
                throw malformed("pull")
            }
            shown.append((task.engine ?? EngineNumber.none, reply[1...names.count].map(\.text)))
            blobs += blob
        }
        _ = try cluster.runLocally(.collect, [Bytes(text: "list"), [], Bytes(text: String(targets.count))] + blobs)
        return shown
    }

    /// Splits a local sequence into contiguous blocks, one per target, stored there as `name`.
    public func scatter(_ name: String, expression: String = "") throws {
        let reply = try cluster.runLocally(
            .scatter,
            [Bytes(text: name), Bytes(text: expression), Bytes(text: String(targets.count))]
        )
        guard let blobs = Blob.readAll(reply, from: 1), blobs.count == targets.count else { throw malformed("scatter") }
        defer { SharedMemoryFiles.release(reply) }
        try cluster.finish(
            try cluster.submit(Submission(op: .import, targets: targets, perTask: blobs), label: "%scatter")
        )
    }

    /// Concatenates each target's `name` into the local variable `name`.
    ///
    /// - Returns: the repr of the gathered value.
    public func gather(_ name: String) throws -> String {
        let result = try cluster.submit(
            Submission(op: .exportValues, targets: targets, shared: [Bytes(text: name), []]),
            label: "%gather"
        )
        try cluster.finish(result)
        defer { SharedMemoryFiles.release(result) }
        var blobs: [Bytes] = []
        for task in result.tasks {
            guard let reply = task.reply, let (blob, _) = Blob.read(reply, at: 1) else { throw malformed("gather") }
            blobs += blob
        }
        let reply = try cluster.runLocally(
            .collect,
            [Bytes(text: "concat"), [], Bytes(text: String(targets.count))] + blobs
        )
        return reply.count > 2 ? reply[2].text : ""
    }

    /// Calls the local function `function` with the arguments `arguments` (call syntax) on every target.
    public func apply(function: String, arguments: String, name: String? = nil) throws -> AsyncResult {
        let reply = try cluster.runLocally(.packCall, [Bytes(text: function), Bytes(text: arguments)])
        guard let (blob, _) = Blob.read(reply, at: 1) else { throw malformed("apply") }
        let result = try cluster.submit(
            Submission(op: .apply, targets: targets, shared: blob),
            label: "%apply",
            name: name
        )
        result.sharedArguments = blob
        return result
    }

    /// The variables of each target: (name, type, summary) rows, in target order.
    public func who() throws -> [(engine: Int32, variables: [(name: String, type: String, summary: String)])] {
        let result = try cluster.submit(Submission(op: .who, targets: targets), label: "%who")
        try cluster.finish(result)
        return result.tasks.map { task in
            let reply = Array((task.reply ?? []).dropFirst())
            let rows = stride(from: 0, to: reply.count - 2, by: 3).map {
                (name: reply[$0].text, type: reply[$0 + 1].text, summary: reply[$0 + 2].text)
            }
            return (task.engine ?? EngineNumber.none, rows)
        }
    }

    private func malformed(_ operation: String) -> ClusterError {
        .invalidRequest("\(operation): the engine runtime sent a malformed reply")
    }
}

extension Cluster {
    /// A view of the given engines (all live engines by default).
    public func view(_ targets: [Int32]? = nil) -> DirectView {
        DirectView(cluster: self, targets: targets ?? liveEngineIDs)
    }

    /// Runs an op on the home engine and waits; returns the reply's segments, `"ok"` first.
    ///
    /// - Throws: the ``RemoteError`` the local code raised.
    package func runLocally(_ op: EngineOp, _ arguments: [Bytes]) throws -> [Bytes] {
        let result = try submit(Submission(op: op, targets: [EngineNumber.home], shared: arguments), label: "local")
        try finish(result)
        return result.tasks[0].reply ?? []
    }

    /// Waits for a result and throws its errors, if any. Ctrl-C (``interruptDescriptor``) goes to
    /// ``onInterrupt``; the result then usually ends with KeyboardInterrupt errors, thrown here.
    ///
    /// - Throws: the remote errors; ``ClusterError/interrupted`` if the result did not end.
    public func finish(_ result: AsyncResult) throws {
        do {
            try wait(for: result, interrupt: interruptDescriptor)
        } catch ClusterError.interrupted {
            try onInterrupt?(result)
            guard result.isReady else { throw ClusterError.interrupted }
        }
        _ = try result.get()
    }
}
