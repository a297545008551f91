/// One row of the benchmark: what is measured, in which unit, and what pxsh aims for.
///
/// The identifier is shared with the peers' script (`Peers/peer_bench.py`), which reports its samples
/// under the same names, so that a row holds the same work done by every system.
public struct Measure: Hashable, Sendable {
    /// The unit of a measure's samples. Samples always travel in the base unit; only the text report scales them.
    public enum Unit: String, Sendable {
        case seconds = "s"
        case tasksPerSecond = "tasks/s"
        case itemsPerSecond = "items/s"
        /// Decimal gigabytes (10⁹ bytes) per second.
        case gigabytesPerSecond = "GB/s"
        case bytes = "bytes"
        /// One measure over another, taken side by side (``InterleavedBlocks``).
        case ratio = "ratio"

        /// Whether a larger sample is a better one (throughput), or a smaller one (time, memory).
        public var isHigherBetter: Bool {
            switch self {
            case .tasksPerSecond, .itemsPerSecond, .gigabytesPerSecond: true
            case .seconds, .bytes, .ratio: false
            }
        }
    }

    /// A stable identifier such as `cold_start.n4`; the key in the JSON output.
    public var id: String
    /// How the row reads in the table, e.g. "cold start, 4 engines".
    public var title: String
    public var unit: Unit
    /// Whether the p90 matters as much as the median (latencies).
    public var reportsP90: Bool
    /// The figure pxsh's median should reach, in `unit`; nil when none is set.
    public var target: Double?
    /// A target set against a peer: at most (or at least) `factor` times its median on `measureID`.
    public var relativeTarget: RelativeTarget?

    /// A target that depends on what a peer measured in the same run.
    public struct RelativeTarget: Hashable, Sendable {
        public var system: BenchSystem
        public var measureID: String
        public var factor: Double

        public init(system: BenchSystem, measureID: String, factor: Double) {
            self.system = system
            self.measureID = measureID
            self.factor = factor
        }
    }

    public init(
        id: String,
        title: String,
        unit: Unit,
        reportsP90: Bool = false,
        target: Double? = nil,
        relativeTarget: RelativeTarget? = nil
    ) {
        self.id = id
        self.title = title
        self.unit = unit
        self.reportsP90 = reportsP90
        self.target = target
        self.relativeTarget = relativeTarget
    }

    /// Whether `median` reaches the target; nil when there is no target.
    public func meetsTarget(_ median: Double) -> Bool? {
        meets(median, target)
    }

    /// Whether `median` reaches `target`; nil when there is no target.
    public func meets(_ median: Double, _ target: Double?) -> Bool? {
        guard let target else { return nil }
        return unit.isHigherBetter ? median >= target : median <= target
    }

    /// How many times better pxsh's `median` is than a peer's: above 1 when pxsh is faster or leaner.
    public func advantage(pxsh: Double, peer: Double) -> Double? {
        guard pxsh > 0, peer > 0 else { return nil }
        return unit.isHigherBetter ? pxsh / peer : peer / pxsh
    }
}
