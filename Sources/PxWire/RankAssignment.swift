/// Ranks 0..<count over a cluster's engines, whatever was added, removed or restarted.
public enum RankAssignment {
    /// The rank of each engine (by id), given each one's current rank: an engine keeps its rank when
    /// it is below the number of engines and no engine of a lower id holds it; the others take the
    /// free ranks, lowest first, in id order.
    public static func compact(_ engines: [(id: Int32, rank: Int)]) -> [Int32: Int] {
        let sorted = engines.sorted { $0.id < $1.id }
        var taken: Set<Int> = []
        var ranks: [Int32: Int] = [:]
        var moving: [Int32] = []
        for engine in sorted {
            if engine.rank >= 0 && engine.rank < sorted.count && taken.insert(engine.rank).inserted {
                ranks[engine.id] = engine.rank
            } else {
                moving.append(engine.id)
            }
        }
        var free = (0..<sorted.count).filter { !taken.contains($0) }.makeIterator()
        for id in moving { ranks[id] = free.next() }
        return ranks
    }
}
