import PxScheduling

// MARK: - Literals

// Integer literals keep the expected actions readable: `.dispatch([1, 3], to: 0)`. They live
// here rather than in the module so that production code spells ids out.

extension EngineID: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int32) {
        self.init(value)
    }
}

extension TaskID: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: UInt64) {
        self.init(value)
    }
}

// MARK: - Building states

/// Task ids `range.lowerBound ... range.upperBound`.
func taskIDs(_ range: ClosedRange<UInt64>) -> [TaskID] {
    range.map { TaskID($0) }
}

/// A load balancer with these engines live and no tasks.
func makeBalancer(engines: [EngineID], prefetch: Int = 2, retries: Int = 1) -> LoadBalancer {
    var balancer = LoadBalancer(configuration: .init(prefetch: prefetch, defaultRetries: retries))
    for engine in engines {
        let actions = balancer.handle(.engineJoined(engine))
        precondition(actions.isEmpty, "joining an engine without tasks dispatched \(actions)")
    }
    return balancer
}

/// Everything the read-only views show, to check that an ignored event changed nothing.
struct Snapshot: Equatable, CustomStringConvertible {
    var liveEngines: [EngineID]
    var loads: [LoadBalancer.EngineLoad?]
    var outstanding: [[TaskID]]
    var pending: [TaskID]
    var pendingCount: Int
    var unfinishedCount: Int

    init(_ balancer: LoadBalancer) {
        self.liveEngines = balancer.liveEngines
        self.loads = balancer.liveEngines.map { balancer.load(of: $0) }
        self.outstanding = balancer.liveEngines.map { balancer.outstandingTasks(on: $0) }
        self.pending = balancer.pendingTasks
        self.pendingCount = balancer.pendingCount
        self.unfinishedCount = balancer.unfinishedCount
    }

    var description: String {
        "engines \(self.liveEngines) loads \(self.loads) outstanding \(self.outstanding) pending \(self.pending)"
    }
}

/// The tasks that the actions dispatch, by engine.
func dispatches(in actions: [LoadBalancer.Action]) -> [EngineID: [TaskID]] {
    var result: [EngineID: [TaskID]] = [:]
    for case .dispatch(let tasks, let engine) in actions {
        result[engine, default: []] += tasks
    }
    return result
}

// MARK: - Randomness

/// A small seeded generator (SplitMix64), so that a failing random run can be replayed from its
/// seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
