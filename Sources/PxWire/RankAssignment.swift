/// Ranks 0..<count over a cluster's engines, whatever was added, removed or restarted.
public enum RankAssignment {
    /// The rank of each engine (by id), given each one's current rank: an engine keeps its rank when
    /// it is below the number of engines and no engine of a lower id holds it; the others take the
    /// free ranks, lowest first, in id order.
    ///
    /// - Parameter kept: engines whose rank never changes, even out of 0..<count: ranks of an MPI job,
    ///   where rank is `MPI.COMM_WORLD.rank`.
    public static func compact(_ engines: [(id: Int32, rank: Int)], keeping kept: Set<Int32> = []) -> [Int32: Int] {
        let sorted = engines.sorted { $0.id < $1.id }
        var ranks: [Int32: Int] = [:]
        for engine in sorted where kept.contains(engine.id) { ranks[engine.id] = engine.rank }
        var taken = Set(ranks.values)
        var moving: [Int32] = []
        for engine in sorted where !kept.contains(engine.id) {
            if engine.rank >= 0 && engine.rank < sorted.count && taken.insert(engine.rank).inserted {
                ranks[engine.id] = engine.rank
            } else {
                moving.append(engine.id)
            }
        }
        let used = taken
        var free = (0...).lazy.filter { !used.contains($0) }.makeIterator()
        for id in moving { ranks[id] = free.next() }
        return ranks
    }
}
