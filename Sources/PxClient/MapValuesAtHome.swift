import PxWire

/// A map's values on their way home while the map runs (``LoadBalancedView/map(function:sequence:chunkSize:retries:name:valuesComeHome:)``).
///
/// Each chunk's values go to the home engine as its task ends, so that the home engine unpickles
/// them while the engines work on the rest, and in item order joins them as they come; collecting
/// the map then has only the last chunks left to load and join. One request at a time is with the
/// home engine: chunks that end meanwhile go together in the next, so a map of many small chunks
/// makes few requests. The blobs' shared-memory files stay until the map is collected, so a
/// collect that the stream cannot serve sends them all again.
final class MapValuesAtHome {
    /// The order of the values in the local list.
    let order: LoadBalancedView.ValueOrder
    /// Chunks whose values went home, by task index.
    private var sent = Set<Int>()
    /// Chunks that ended while a request was with the home engine.
    private var waiting: [Int] = []
    private var inFlight: AsyncResult?
    /// The map failed, a request to the home engine failed, or the map was collected: nothing more goes home.
    private(set) var isClosed = false
    /// The home engine holds values that no collect will use (see ``drop(_:in:)``).
    private var isOpenAtHome = false

    init(order: LoadBalancedView.ValueOrder) { self.order = order }

    /// The name of the map's values at home: the id of its first task, unique in the cluster.
    private func token(of result: AsyncResult) -> Bytes { Bytes(text: String(result.firstTaskID ?? 0)) }

    /// Task `index` of `result` ended: its values go home, now or with the next request.
    func taskEnded(_ index: Int, of result: AsyncResult, cluster: Cluster) {
        guard !isClosed else { return }
        if result.isReady && result.isFailed {
            // No plain collect will come (one of only the finished tasks sends them all again).
            return drop(result, in: cluster)
        }
        if result.tasks[index].reply != nil { waiting.append(index) }
        sendWaiting(of: result, cluster: cluster)
    }

    private func sendWaiting(of result: AsyncResult, cluster: Cluster) {
        guard !isClosed, inFlight == nil, !waiting.isEmpty else { return }
        guard let parts = segments(of: waiting, in: result) else { return drop(result, in: cluster) }
        let request = [token(of: result), Bytes(text: "add"), Bytes(text: order == .items ? "items" : "completion")]
        do {
            let add = try cluster.submit(
                Submission(op: .mapValues, targets: [EngineNumber.home], shared: request + [[]] + parts),
                label: "local"
            )
            isOpenAtHome = true
            sent.formUnion(waiting)
            waiting = []
            inFlight = add
            add.onReady = { [weak self, weak result, unowned cluster] in
                guard let self, let result else { return }
                self.inFlight = nil
                if add.isFailed { return self.drop(result, in: cluster) }
                self.sendWaiting(of: result, cluster: cluster)
            }
        } catch {
            isClosed = true
        }
    }

    /// `[n, (index, blob) * n]` of the given tasks' replies; nil if one is malformed.
    private func segments(of indices: [Int], in result: AsyncResult) -> [Bytes]? {
        var segments = [Bytes(text: String(indices.count))]
        for index in indices {
            guard let reply = result.tasks[index].reply, let (blob, _) = Blob.read(reply, at: 1) else { return nil }
            segments += [Bytes(text: String(index))] + blob
        }
        return segments
    }

    /// Forgets the values at home; a collect then sends them all.
    func drop(_ result: AsyncResult, in cluster: Cluster) {
        isClosed = true
        guard isOpenAtHome else { return }
        isOpenAtHome = false
        _ = try? cluster.submit(
            Submission(
                op: .mapValues,
                targets: [EngineNumber.home],
                shared: [token(of: result), Bytes(text: "drop"), [], [], Bytes(text: "0")]
            ),
            label: "local"
        )
    }

    /// The request that ends the stream by joining the values of the tasks at `indices`, in that
    /// order, into the local `names`: the values that did not go home yet go with it. nil when
    /// the stream cannot serve it (it was closed, or keeps the other order).
    func finishRequest(_ result: AsyncResult, indices: [Int], unordered: Bool, names: [String]) -> [Bytes]? {
        guard !isClosed, !sent.isEmpty, (order == .completion) == unordered else { return nil }
        let rest = indices.filter { !sent.contains($0) }
        guard let parts = segments(of: rest, in: result) else { return nil }
        isClosed = true
        isOpenAtHome = false
        return [
            token(of: result), Bytes(text: "finish"), Bytes(text: indices.map(String.init).joined(separator: ",")),
            Bytes(text: names.joined(separator: ",")),
        ] + parts
    }
}
