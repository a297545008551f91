/// The identity of one load-balanced task.
///
/// The controller assigns task ids from a counter, so an id names one task for the life of the
/// cluster. The scheduler relies only on ids being unique among the tasks it is tracking: an id
/// that is submitted while it is still pending or dispatched is a duplicate and is ignored.
public struct TaskID: Hashable, Sendable {
    /// The number that names the task.
    public var rawValue: UInt64

    /// Creates the id of the task that `rawValue` names.
    public init(_ rawValue: UInt64) {
        self.rawValue = rawValue
    }
}

// MARK: - Comparable

extension TaskID: Comparable {
    public static func < (lhs: TaskID, rhs: TaskID) -> Bool {
        lhs.rawValue < rhs.rawValue
    }
}

// MARK: - CustomStringConvertible

extension TaskID: CustomStringConvertible {
    /// The bare number, so that it reads well in a sentence: `"task \(id) was retried"`.
    public var description: String {
        String(self.rawValue)
    }
}
