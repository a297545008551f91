/// How much work each measure does and how often it is repeated.
///
/// One plan drives pxsh and the peers alike: the peers' script receives these numbers on its command line,
/// so every system does the same work. Only ipyparallel's chunksize-1 map is given fewer tasks, because at a few
/// hundred tasks per second the full count would take minutes; a smaller count can only flatter it (its fixed
/// costs weigh more, not less), so the comparison stays honest.
public struct BenchPlan: Equatable, Sendable {
    /// Engine counts for the cold-start measure.
    public var coldStartEngineCounts = [2, 4, 8]
    /// Timed cold starts per engine count (after one untimed warm-up start, which fills the OS caches).
    public var coldStartRuns: Int
    /// Single load-balanced calls timed one by one (the peers), or lines of the session file that pxsh runs
    /// with `%run` per timed run (pxsh's `call` and `local_line`: the time of a run divided by its lines).
    public var callCount: Int
    /// `apply_async` calls in one sample of the Python submissions row.
    public var pythonSubmissionCount: Int { callCount * 10 }
    /// Timed `%run`s of those session files.
    public var scriptRuns: Int
    /// Engine counts for the `%px pass` round trip, all on one cluster of the largest count.
    public var roundTripEngineCounts = [1, 2, 4]
    public var roundTripCalls: Int
    public var roundTripWarmupCalls: Int
    /// Pairs of blocks for a ratio measured side by side (``InterleavedBlocks``): `%px pass` and Python's
    /// `execute` split their round trips into this many blocks each, Python's call and concurrent.futures'
    /// their calls.
    public var interleavedPairs: Int
    /// Untimed calls at the start of each block, so that a block times the same steady state as one long
    /// series, not the first call after the other side's block.
    public var blockLeadInCalls = 5
    /// Engines of the cluster used for load-balanced maps, push/pull, scatter/gather and memory.
    public var engines = 2
    /// Tasks of the chunksize-1 map.
    public var chunkOneTasks: Int
    /// Tasks of ipyparallel's and dask's chunksize-1 map (see the type's discussion).
    public var chunkOneTasksForIpyparallel: Int
    /// Items of the auto-chunked map.
    public var autoChunkItems = 1_000_000
    public var mapRuns: Int
    /// Array sizes for push and pull, in bytes (decimal megabytes).
    public var transferSizes = [1_000_000, 10_000_000, 100_000_000]
    public var transferRuns: Int
    /// The length of the range and of the list that are scattered and gathered.
    public var scatterItems = 1_000_000
    public var scatterRuns: Int
    /// Measure identifiers or prefixes of them (`px_pass`, `map.auto`) to run; empty runs everything.
    public var selection: [String] = []

    /// The full suite: enough repetitions for stable medians and a meaningful p90.
    public static let full = BenchPlan(
        coldStartRuns: 10,
        callCount: 1_000,
        scriptRuns: 5,
        roundTripCalls: 2_000,
        roundTripWarmupCalls: 200,
        interleavedPairs: 20,
        chunkOneTasks: 100_000,
        chunkOneTasksForIpyparallel: 3_000,
        mapRuns: 5,
        transferRuns: 10,
        scatterRuns: 10
    )

    /// `--quick`: fewer repetitions, so that pxsh's part takes seconds, not minutes.
    public static let quick = BenchPlan(
        coldStartRuns: 3,
        callCount: 300,
        scriptRuns: 3,
        roundTripCalls: 300,
        roundTripWarmupCalls: 50,
        interleavedPairs: 10,
        chunkOneTasks: 20_000,
        chunkOneTasksForIpyparallel: 1_000,
        mapRuns: 3,
        transferRuns: 3,
        scatterRuns: 3
    )

    public init(
        coldStartRuns: Int,
        callCount: Int,
        scriptRuns: Int,
        roundTripCalls: Int,
        roundTripWarmupCalls: Int,
        interleavedPairs: Int,
        chunkOneTasks: Int,
        chunkOneTasksForIpyparallel: Int,
        mapRuns: Int,
        transferRuns: Int,
        scatterRuns: Int
    ) {
        self.coldStartRuns = coldStartRuns
        self.callCount = callCount
        self.scriptRuns = scriptRuns
        self.roundTripCalls = roundTripCalls
        self.roundTripWarmupCalls = roundTripWarmupCalls
        self.interleavedPairs = interleavedPairs
        self.chunkOneTasks = chunkOneTasks
        self.chunkOneTasksForIpyparallel = chunkOneTasksForIpyparallel
        self.mapRuns = mapRuns
        self.transferRuns = transferRuns
        self.scatterRuns = scatterRuns
    }

    /// Calls in one block when `calls` are split into ``interleavedPairs`` blocks (at least one).
    public func blockSize(splitting calls: Int) -> Int { max(1, calls / max(1, interleavedPairs)) }

    /// Whether the measure `id` is selected: `px_pass` selects `px_pass.n1`, `px_pass.n2`, ...
    public func includes(_ id: String) -> Bool {
        selection.isEmpty || selection.contains { id == $0 || id.hasPrefix($0 + ".") || id.hasPrefix($0 + "_") }
    }

    /// The auto chunk size that pxsh, `multiprocessing.Pool.map`'s default and ipyparallel's tuned setting share:
    /// about four chunks per engine.
    public var autoChunkSize: Int { max(1, (autoChunkItems + 4 * engines - 1) / (4 * engines)) }
}
