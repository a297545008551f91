import PxWire

// MARK: - Ranks: 0..size-1 over the engines, whatever came or went

extension Controller {
    /// The engines that `size` counts: all but the home engine and those being removed.
    var rankedEngines: [EngineSlot] {
        // A lost remote engine does not come back (nothing here can start it again).
        engines.values.filter { !$0.isHome && !$0.life.isBeingRemoved && ($0.isChild || !$0.life.isDead) }
    }

    /// Makes the ranks 0..size-1 again after engines were added or removed: engines keep their rank
    /// where they can (see ``RankAssignment``). Engines learn their new rank and size from the client
    /// that changed the cluster; engines started later get them at launch.
    func renumberRanks() {
        let ranks = RankAssignment.compact(rankedEngines.map { (id: $0.id, rank: $0.rank) })
        for (id, rank) in ranks where engines[id]?.rank != rank {
            log("controller: engine \(id) is now rank \(rank) (was \(engines[id]?.rank ?? -1))")
            engines[id]?.rank = rank
        }
    }
}
