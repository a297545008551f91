/// The identity of one engine in a cluster.
///
/// An engine keeps its id for its whole life in the cluster, across restarts: a restarted engine
/// leaves and joins again under the same id, with the same rank. The scheduler only compares and
/// hashes ids; what they mean (rank, process, host) is the controller's business.
public struct EngineID: Hashable, Sendable {
    /// The number that names the engine, usually its rank.
    public var rawValue: Int32

    /// Creates the id of the engine that `rawValue` names.
    public init(_ rawValue: Int32) {
        self.rawValue = rawValue
    }
}

// MARK: - Comparable

extension EngineID: Comparable {
    public static func < (lhs: EngineID, rhs: EngineID) -> Bool {
        lhs.rawValue < rhs.rawValue
    }
}

// MARK: - CustomStringConvertible

extension EngineID: CustomStringConvertible {
    /// The bare number, so that it reads well in a sentence: `"engine \(id) died"`.
    public var description: String {
        String(self.rawValue)
    }
}
