/// Why a system has no figure for a row: it lacks the operation, or the measurement failed.
public struct Omission: Equatable, Sendable {
    public var measureID: String
    public var system: BenchSystem
    public var reason: String
    /// True when something went wrong (the run should exit non-zero), false when the system simply
    /// has no such operation.
    public var isFailure: Bool

    public init(measureID: String, system: BenchSystem, reason: String, isFailure: Bool) {
        self.measureID = measureID
        self.system = system
        self.reason = reason
        self.isFailure = isFailure
    }
}
