import PxWire

/// Work for whichever engine is free: `map` over a sequence, or single `apply` calls.
public struct LoadBalancedView {
    /// The cluster whose engines share the work.
    public let cluster: Cluster

    public init(cluster: Cluster) { self.cluster = cluster }

    /// How a map's items are grouped into tasks.
    public enum ChunkSize: Equatable, Sendable {
        /// About four tasks per engine.
        case auto
        case fixed(Int)
    }

    /// The order of a map's values in the local list.
    public enum ValueOrder: Sendable {
        /// The order of the items.
        case items
        /// The order in which their tasks ended (`%map --unordered`).
        case completion
    }

    /// Maps the local function `function` over the local iterable `sequence`.
    ///
    /// With an empty `sequence`, `function` holds both, as typed after `%map` (`lambda x: x * k range(10)`);
    /// the home engine splits them at the first point where both parse.
    /// The function travels by value (cloudpickle, or a built-in fallback for plain functions).
    /// Collect the values with ``collect(_:into:unordered:onlyFinished:)`` once the result is ready.
    ///
    /// - Parameter valuesComeHome: send each chunk's values to the home engine as its task ends, for a
    ///   collect in this order: the home engine then loads them while the engines work, and the collect
    ///   has only the last ones left. Pass it when the values will be collected; nil sends nothing
    ///   before the collect (a map that fails sends nothing after it either).
    public func map(
        function: String,
        sequence: String,
        chunkSize: ChunkSize = .auto,
        retries: Int? = nil,
        name: String? = nil,
        valuesComeHome order: ValueOrder? = nil
    ) throws -> AsyncResult {
        let chunk =
            switch chunkSize {
            case .auto: "auto"
            case .fixed(let size): String(max(1, size))
            }
        let engines = max(1, cluster.liveEngineIDs.count)
        let reply = try cluster.runLocally(
            .prepareMap,
            [Bytes(text: function), Bytes(text: sequence), Bytes(text: chunk), Bytes(text: String(engines))]
        )
        guard reply.count >= 3, let itemCount = Int(reply[1].text), let size = Int(reply[2].text), size > 0,
            let (function, next) = Blob.read(reply, at: 3), let chunks = Blob.readAll(reply, from: next)
        else { throw ClusterError.invalidRequest("map: the engine runtime sent a malformed reply") }
        let result = try cluster.submit(
            Submission(op: .mapChunk, isBalanced: true, retries: retries, shared: function, perTask: chunks),
            label: "%map",
            name: name
        )
        for index in result.tasks.indices {
            result.tasks[index].items = index * size...min(itemCount, (index + 1) * size) - 1
        }
        result.sharedArguments = function + chunks.flatMap { $0 }
        if let order { result.valuesAtHome = MapValuesAtHome(order: order) }
        return result
    }

    /// One call of the local function `function` with `arguments` (call syntax) on a free engine.
    /// With empty `arguments`, `function` holds both, as typed after `%apply` (`divmod 17 5`).
    ///
    /// The controller has the home engine pack the call and sends it on, in one request. A call
    /// that cannot be packed (an undefined name, an argument that does not pickle) ends the task
    /// with the home engine's error (its engine is ``EngineNumber/home``).
    ///
    /// - Parameter names: local variables for the value: once the call has succeeded, the
    ///   controller has the home engine store it there before anything sent after the reply runs
    ///   there. Settle the store with ``finishStoring(_:)``.
    public func apply(
        function: String,
        arguments: String,
        retries: Int? = nil,
        name: String? = nil,
        storingValueIn names: [String] = []
    ) throws
        -> AsyncResult
    {
        let result = try cluster.submit(
            Submission(
                op: .apply,
                isBalanced: true,
                isPackedAtHome: true,
                storedAtHome: names,
                retries: retries,
                perTask: [[Bytes(text: function), Bytes(text: arguments)]]
            ),
            label: "%apply",
            name: name
        )
        result.storesValueAtHome = !names.isEmpty
        return result
    }

    /// Stores a finished map's values in local variables, in item order or in completion order.
    ///
    /// - Parameter onlyFinished: keep the values of the tasks that succeeded, of a map that was
    ///   interrupted, rather than throw its errors.
    /// - Returns: the repr of the list of values.
    public func collect(
        _ result: AsyncResult,
        into names: [String],
        unordered: Bool = false,
        onlyFinished: Bool = false
    ) throws -> String {
        if !onlyFinished { _ = try result.get() }
        defer { SharedMemoryFiles.release(result) }
        var order = result.tasks.indices.filter {
            !onlyFinished || (result.tasks[$0].isDone && !result.tasks[$0].isFailed)
        }
        if unordered { order.sort { (result.tasks[$0].completed ?? 0) < (result.tasks[$1].completed ?? 0) } }
        if let request = result.valuesAtHome?.finishRequest(result, indices: order, unordered: unordered, names: names)
        {
            let reply = try cluster.runLocally(.mapValues, request)
            if reply.count > 2, reply[1].text == "1" { return reply[2].text }
            // The home engine no longer holds them (too many maps at once): send them all.
        }
        result.valuesAtHome?.drop(result, in: cluster)
        var blobs: [Bytes] = []
        for index in order {
            guard let reply = result.tasks[index].reply, let (blob, _) = Blob.read(reply, at: 1) else {
                throw ClusterError.invalidRequest("map: a task sent a malformed reply")
            }
            blobs += blob
        }
        let reply = try cluster.runLocally(
            .collect,
            [Bytes(text: "chain"), Bytes(text: names.joined(separator: ",")), Bytes(text: String(order.count))] + blobs
        )
        return reply.count > 1 ? reply[1].text : ""
    }

    /// Waits for the store of a finished `apply`'s value in local variables (see
    /// ``apply(function:arguments:retries:name:storingValueIn:)``), releases what it read, and
    /// throws its error, if any.
    public func finishStoring(_ call: AsyncResult) throws {
        defer { SharedMemoryFiles.release(call) }
        while !call.isStoreSettled { try cluster.pump(timeoutMilliseconds: -1) }
        if let error = call.storeError { throw error }
    }

    /// Stores the value of a finished `apply` locally. Returns its repr.
    public func collectValue(_ result: AsyncResult, into names: [String]) throws -> String {
        _ = try result.get()
        defer { SharedMemoryFiles.release(result) }
        guard let reply = result.tasks.first?.reply, let (blob, _) = Blob.read(reply, at: 2) else {
            throw ClusterError.invalidRequest("apply: a task sent a malformed reply")
        }
        let collected = try cluster.runLocally(
            .collect,
            [Bytes(text: "value"), Bytes(text: names.joined(separator: ",")), Bytes(text: "1")] + blob
        )
        return collected.count > 1 ? collected[1].text : ""
    }
}

extension Cluster {
    /// A view that sends each task to whichever engine is free.
    public func loadBalanced() -> LoadBalancedView { LoadBalancedView(cluster: self) }
}
