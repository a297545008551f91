/// The order statistics of a set of repeated measurements: median, p90, min and max.
///
/// Benchmarks on shared virtual machines are noisy in one direction only (a run is slowed down, never sped up),
/// so the median is the figure to compare and min/max show the spread. The percentiles interpolate linearly
/// between the two nearest ranks, as NumPy's default `percentile` does, so that the figures here and a peer's own
/// analysis of the same samples agree.
public struct Summary: Equatable, Sendable {
    /// The samples, sorted ascending. Never empty.
    public let sortedSamples: [Double]

    /// Summarizes `samples`, ignoring NaNs; nil when no sample is left.
    public init?<Samples: Sequence>(_ samples: Samples) where Samples.Element == Double {
        let kept = samples.filter { !$0.isNaN }.sorted()
        guard !kept.isEmpty else { return nil }
        sortedSamples = kept
    }

    // MARK: - Statistics

    public var count: Int { sortedSamples.count }
    public var minimum: Double { sortedSamples[0] }
    public var maximum: Double { sortedSamples[sortedSamples.count - 1] }
    public var median: Double { percentile(50) }
    public var p90: Double { percentile(90) }

    /// The arithmetic mean; reported for completeness, not for comparison (one slow outlier moves it).
    public var mean: Double { sortedSamples.reduce(0, +) / Double(sortedSamples.count) }

    /// The `rank`th percentile (0...100), linearly interpolated between the closest ranks.
    ///
    /// With samples x₀ ≤ … ≤ xₙ₋₁ the position is `rank / 100 · (n − 1)`; a fractional position mixes
    /// its two neighbours. The 50th percentile of an even count is therefore the mean of the middle two.
    public func percentile(_ rank: Double) -> Double {
        let clamped = min(max(rank, 0), 100)
        let position = clamped / 100 * Double(sortedSamples.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sortedSamples.count - 1)
        let fraction = position - Double(lower)
        return sortedSamples[lower] + (sortedSamples[upper] - sortedSamples[lower]) * fraction
    }
}
