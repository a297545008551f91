import PxWire

// MARK: - Ranks: 0..size-1 over the engines, whatever came or went

extension Controller {
    /// The engines that `size` counts: all but the home engine and those being removed.
    var rankedEngines: [EngineSlot] {
        // A lost remote engine does not come back (nothing here can start it again).
        engines.values.filter { !$0.isHome && !$0.life.isBeingRemoved && ($0.isChild || !$0.life.isDead) }
    }

    /// Makes the ranks 0..size-1 again after engines were added or removed: engines keep their rank
    /// where they can (see ``RankAssignment``), and ranks of an MPI job never change. Engines learn
    /// their new rank and size from the client that changed the cluster, or from
    /// ``settleRanksIfNeeded()``; engines started later get them at launch.
    ///
    /// - Returns: the engines whose rank changed, with their rank before.
    @discardableResult
    func renumberRanks() -> [(id: Int32, was: Int)] {
        let ranked = rankedEngines
        let ranks = RankAssignment.compact(
            ranked.map { (id: $0.id, rank: $0.rank) },
            keeping: Set(ranked.filter(\.keepsRank).map(\.id))
        )
        var moved: [(id: Int32, was: Int)] = []
        for (id, rank) in ranks.sorted(by: { $0.key < $1.key }) where engines[id]?.rank != rank {
            let was = engines[id]?.rank ?? -1
            log("controller: engine \(id) is now rank \(rank) (was \(was))")
            engines[id]?.rank = rank
            moved.append((id, was))
        }
        return moved
    }

    /// After remote engines joined or were lost, which no client asked for: renumbers the ranks,
    /// sets `rank` and `size` in every engine that takes tasks, and, after a loss, tells the clients
    /// in one line (as a client does after `%remove`).
    ///
    /// Each engine gets a task of its own, queued behind what it runs, so later tasks see the new
    /// values; its reply has no record and goes nowhere.
    func settleRanksIfNeeded() {
        guard ranksNeedSettling, !isShuttingDown else { return }
        ranksNeedSettling = false
        let moved = renumberRanks()
        let ranked = rankedEngines
        // Those still registering learn them once they take tasks (see ``remoteEngineReady(_:)``).
        for slot in ranked where slot.life.takesTasks { sendRankAndSize(to: slot.id, size: ranked.count) }
        guard hasLostEnginesSinceSettled else { return }
        hasLostEnginesSinceSettled = false
        var notice = "size is now \(ranked.count)"
        if !moved.isEmpty {
            notice =
                "ranks changed: "
                + moved.map { "engine \($0.id) is now rank \(engines[$0.id]?.rank ?? -1) (was \($0.was))" }.joined(
                    separator: ", "
                ) + "; " + notice
        }
        let kept = ranked.filter(\.keepsRank)
        if kept.contains(where: { $0.rank >= ranked.count }) {
            notice +=
                "; engines \(kept.map(\.id).sorted().map(String.init).joined(separator: ", ")) keep their MPI rank (MPI.COMM_WORLD.rank "
                + "cannot change), and their MPI job has lost a rank: what needs every rank will hang"
        }
        broadcast(.notice(notice))
    }

    /// Sets `rank` and `size` in engine `id`: a task of its own, queued behind what it runs, so later
    /// tasks see the new values; its reply has no record and goes nowhere.
    func sendRankAndSize(to id: Int32, size: Int) {
        guard let slot = engines[id], let peer = slot.connection else { return }
        let task = nextTaskID
        nextTaskID += 1
        engines[id]?.queue.append(task)
        engines[id]?.handle(.workQueued)
        let code = "rank, size = \(slot.rank), \(size)"
        // Cell 0: no prompt has that number, so no cell's source is shadowed in tracebacks.
        let segments = [Bytes(text: code), Bytes(text: "0")]
        peer.connection.enqueue(
            Frame(kind: .task, op: EngineOp.execute.rawValue, engine: id, id: task, segments: segments)
        )
        engines[id]?.welcomed = nil
    }
}
