/// What one system measured for one row: its samples, summarized, and how it did the work.
public struct Measurement: Equatable, Sendable {
    /// The ``Measure/id`` of the row.
    public var measureID: String
    public var system: BenchSystem
    /// How the work was done, in the system's own terms, e.g. "Pool.map(f, seq, chunksize=1)".
    public var setting: String
    public var summary: Summary

    public init(measureID: String, system: BenchSystem, setting: String, summary: Summary) {
        self.measureID = measureID
        self.system = system
        self.setting = setting
        self.summary = summary
    }
}
