/// What one system's run of the suite produced.
public struct SuiteOutcome: Equatable, Sendable {
    public var measurements: [Measurement] = []
    public var omissions: [Omission] = []
    /// The system's version as it reports it, e.g. "9.2.0" for ipyparallel.
    public var version: String?
    /// Why the system did not run at all (e.g. ipyparallel is not importable); nil when it ran.
    public var unavailableReason: String?

    public init(
        measurements: [Measurement] = [],
        omissions: [Omission] = [],
        version: String? = nil,
        unavailableReason: String? = nil
    ) {
        self.measurements = measurements
        self.omissions = omissions
        self.version = version
        self.unavailableReason = unavailableReason
    }
}
