import PxScheduling
import Testing

/// Random event sequences checked against a naive model of what the load balancer must do.
///
/// The model does not re-implement the choice of engine (the scenario tests pin that down). It
/// keeps the facts that any correct choice must respect — which engines are live, which tasks each
/// holds, the order of the queue, the retry budgets — and checks each event's actions against
/// them:
/// - every submitted task ends exactly once: finished, failed or aborted;
/// - no task is dispatched to an engine that is not live, or while it is not pending;
/// - tasks leave the queue in queue order, and retried tasks re-enter it at the front;
/// - an engine never holds more than `prefetch` balanced tasks, and an engine that receives tasks
///   holds no more than `prefetch` work, direct requests included, after it;
/// - no task waits while an engine has room;
/// - the read-only views agree with the model.
@Suite("LoadBalancer random events")
struct LoadBalancerPropertyTests {
    @Test(arguments: 1...12)
    func invariantsHoldOverRandomEvents(seed: UInt64) {
        var generator = SplitMix64(seed: seed)
        let prefetch = Int(seed % 4) + 1
        var run = ModelRun(prefetch: prefetch, defaultRetries: Int(seed % 3), seed: seed)

        for step in 0..<4000 where run.failures == 0 {
            run.step = step
            run.apply(run.randomEvent(using: &generator))
        }
        if run.failures == 0 {
            run.drain()
        }

        #expect(run.failures == 0)
        #expect(run.submitted.count > 1000, "the run should exercise a real workload")
    }
}

// MARK: - Model

/// Counts the failures of a run, so that it stops at the first instead of flooding the log.
private final class FailureLog {
    var failures = 0
}

/// One random run: the load balancer under test and the model that checks it.
private struct ModelRun {
    let prefetch: Int
    let defaultRetries: Int
    let seed: UInt64
    var step = 0
    /// Failures so far; a reference, so that checks need not mutate the run they describe.
    let log = FailureLog()

    var failures: Int {
        self.log.failures
    }

    var balancer: LoadBalancer

    /// Engines the controller could name, including some that never join.
    let enginePool: [EngineID] = [0, 1, 2, 3, 4]
    var live: Set<EngineID> = []
    var direct: [EngineID: Int] = [:]
    var running: [EngineID: [TaskID]] = [:]
    /// The pending tasks, in the order they must be dispatched.
    var queue: [TaskID] = []
    /// The retries left for each task that has not ended.
    var retriesLeft: [TaskID: Int] = [:]
    /// How each submitted task ended; a task must end exactly once.
    var endings: [TaskID: [String]] = [:]
    var submitted: [TaskID] = []
    var nextTask: UInt64 = 1

    init(prefetch: Int, defaultRetries: Int, seed: UInt64) {
        self.prefetch = prefetch
        self.defaultRetries = defaultRetries
        self.seed = seed
        self.balancer = LoadBalancer(configuration: .init(prefetch: prefetch, defaultRetries: defaultRetries))
    }

    // MARK: Checking

    func check(
        _ condition: Bool,
        _ message: @autoclosure () -> String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        guard !condition else { return }
        self.log.failures += 1
        Issue.record("seed \(self.seed), step \(self.step): \(message())", sourceLocation: sourceLocation)
    }

    mutating func end(_ task: TaskID, as outcome: String) {
        self.endings[task, default: []].append(outcome)
        self.check(self.endings[task]!.count == 1, "task \(task) ended twice: \(self.endings[task]!)")
        self.retriesLeft[task] = nil
    }

    // MARK: Applying an event

    mutating func apply(_ event: LoadBalancer.Event) {
        var expectedNotices: [LoadBalancer.Action] = []

        // What the event itself does, before any dispatch.
        switch event {
        case .engineJoined(let engine):
            if self.live.insert(engine).inserted {
                self.direct[engine] = 0
                self.running[engine] = []
            }

        case .engineLeft(let engine, let retrying):
            guard self.live.remove(engine) != nil else { break }
            var requeued: [TaskID] = []
            for task in self.running.removeValue(forKey: engine) ?? [] {
                if retrying, self.retriesLeft[task, default: 0] > 0 {
                    self.retriesLeft[task]! -= 1
                    requeued.append(task)
                    expectedNotices.append(.retrying(task, after: engine))
                } else {
                    self.end(task, as: "engine \(engine) died")
                    expectedNotices.append(.failed(task, .engineDied(engine)))
                }
            }
            self.queue = requeued + self.queue
            self.direct[engine] = nil

        case .submitted(let tasks, let retries, let allowed):
            precondition(allowed == nil, "the model places tasks that any engine may run")
            for task in tasks where self.retriesLeft[task] == nil && self.endings[task] == nil {
                self.retriesLeft[task] = max(0, retries ?? self.defaultRetries)
                self.queue.append(task)
                self.submitted.append(task)
            }

        case .finished(let tasks, let engine):
            for task in tasks {
                guard let index = self.running[engine]?.firstIndex(of: task) else { continue }
                self.running[engine]!.remove(at: index)
                self.end(task, as: "finished")
            }

        case .directQueued(let engine):
            if self.live.contains(engine) {
                self.direct[engine]! += 1
            }

        case .directFinished(let engine):
            if self.live.contains(engine), self.direct[engine]! > 0 {
                self.direct[engine]! -= 1
            }

        case .prefetchChanged:
            // Not generated: the model keeps one prefetch; LoadBalancerTests covers changes.
            break

        case .abortRequested(let tasks):
            var notAborted: [TaskID] = []
            for task in tasks {
                if let index = self.queue.firstIndex(of: task) {
                    self.queue.remove(at: index)
                    self.end(task, as: "aborted")
                    expectedNotices.append(.failed(task, .aborted))
                } else if self.running.values.contains(where: { $0.contains(task) }) {
                    self.retriesLeft[task] = 0
                    notAborted.append(task)
                }
            }
            if !notAborted.isEmpty {
                expectedNotices.append(.notAborted(notAborted))
            }
        }

        let actions = self.balancer.handle(event)

        // Notices first, in the model's order; then dispatches, one per engine.
        let notices = Array(actions.prefix { if case .dispatch = $0 { false } else { true } })
        self.check(notices == expectedNotices, "\(event): notices \(notices), expected \(expectedNotices)")
        var dispatchedEngines: Set<EngineID> = []
        var dispatchedTasks: [TaskID] = []
        for action in actions.dropFirst(notices.count) {
            guard case .dispatch(let tasks, let engine) = action else {
                self.check(false, "\(event): notice \(action) after a dispatch")
                continue
            }
            self.check(!tasks.isEmpty, "\(event): empty dispatch to engine \(engine)")
            self.check(dispatchedEngines.insert(engine).inserted, "\(event): two dispatches to engine \(engine)")
            self.check(self.live.contains(engine), "\(event): dispatch to engine \(engine), which is not live")
            // Each engine's tasks must come off the queue in queue order.
            let positions = tasks.compactMap { self.queue.firstIndex(of: $0) }
            self.check(positions.count == tasks.count, "\(event): dispatched \(tasks), not all pending")
            self.check(positions == positions.sorted(), "\(event): \(tasks) out of queue order")
            self.running[engine, default: []] += tasks
            dispatchedTasks += tasks
        }
        // Together, the dispatched tasks are the front of the queue.
        self.check(
            Set(dispatchedTasks) == Set(self.queue.prefix(dispatchedTasks.count)),
            "\(event): dispatched \(dispatchedTasks), but the queue starts \(self.queue.prefix(dispatchedTasks.count))"
        )
        self.queue.removeFirst(min(dispatchedTasks.count, self.queue.count))
        // Direct requests may pile up beyond the limit, but balanced work never adds to them.
        for engine in dispatchedEngines where self.live.contains(engine) {
            let load = self.running[engine]!.count + self.direct[engine]!
            self.check(load <= self.prefetch, "\(event): engine \(engine) was given work up to load \(load)")
        }

        self.checkInvariants(after: event)
    }

    mutating func checkInvariants(after event: LoadBalancer.Event) {
        for engine in self.live {
            let balanced = self.running[engine]!.count
            let load = balanced + self.direct[engine]!
            self.check(balanced <= self.prefetch, "\(event): engine \(engine) holds \(balanced) balanced tasks")
            self.check(
                self.queue.isEmpty || load >= self.prefetch,
                "\(event): engine \(engine) has load \(load) while \(self.queue.count) tasks wait"
            )
            self.check(
                self.balancer.outstandingTasks(on: engine) == self.running[engine]!,
                "\(event): engine \(engine) holds \(self.balancer.outstandingTasks(on: engine)), model \(self.running[engine]!)"
            )
            self.check(
                self.balancer.load(of: engine) == .init(balanced: balanced, direct: self.direct[engine]!),
                "\(event): engine \(engine) load \(String(describing: self.balancer.load(of: engine)))"
            )
        }
        self.check(
            self.balancer.liveEngines == self.live.sorted(),
            "\(event): live engines \(self.balancer.liveEngines)"
        )
        self.check(
            self.balancer.pendingCount == self.queue.count,
            "\(event): pendingCount \(self.balancer.pendingCount)"
        )
        self.check(
            self.balancer.pendingTasks == self.queue,
            "\(event): pending \(self.balancer.pendingTasks), model \(self.queue)"
        )
        let runningCount = self.running.values.reduce(0) { $0 + $1.count }
        self.check(
            self.balancer.unfinishedCount == self.queue.count + runningCount,
            "\(event): unfinishedCount \(self.balancer.unfinishedCount)"
        )
    }

    // MARK: Random events

    mutating func randomEvent(using generator: inout SplitMix64) -> LoadBalancer.Event {
        let anyEngine = self.enginePool.randomElement(using: &generator)!
        switch Int.random(in: 0..<100, using: &generator) {
        case 0..<25 where self.queue.count < 200:
            // Bounded, so that the queue both fills and drains during a run.
            return self.randomSubmission(using: &generator)

        case 0..<60:
            let busy = self.live.sorted().filter { !self.running[$0]!.isEmpty }
            guard let engine = busy.randomElement(using: &generator) else {
                return self.randomSubmission(using: &generator)
            }
            let tasks = self.running[engine]!
            if Bool.random(using: &generator) || tasks.count == 1 {
                // Engines run their tasks in order, so results mostly come back in order.
                return .finished(Array(tasks.prefix(Int.random(in: 1...tasks.count, using: &generator))), on: engine)
            }
            return .finished(
                tasks.filter { _ in Bool.random(using: &generator) }.shuffled(using: &generator),
                on: engine
            )

        case 60..<68:
            return .engineJoined(anyEngine)
        case 68..<73:
            return .engineLeft(anyEngine, retrying: Bool.random(using: &generator))
        case 73..<80:
            return .directQueued(anyEngine)
        case 80..<87:
            return .directFinished(anyEngine)

        case 87..<93:
            // A range of ids, as a job's, around a waiting task or among the newest: some ended,
            // some pending, some running.
            let center = self.queue.randomElement(using: &generator)?.rawValue ?? self.nextTask
            let lower = center > 20 ? center - 20 : 1
            let tasks = (lower..<min(center + 20, self.nextTask)).filter { _ in
                Int.random(in: 0..<3, using: &generator) == 0
            }
            return .abortRequested(tasks.map { TaskID($0) })

        default:
            // A report that may well not fit: any task, any engine, including ones never live.
            let task = TaskID(UInt64.random(in: 1...self.nextTask, using: &generator))
            let engine = Bool.random(using: &generator) ? anyEngine : EngineID(7)
            return .finished([task], on: engine)
        }
    }

    mutating func randomSubmission(using generator: inout SplitMix64) -> LoadBalancer.Event {
        let count = Int.random(in: 1...20, using: &generator)
        var tasks = (0..<count).map { TaskID(self.nextTask + UInt64($0)) }
        self.nextTask += UInt64(count)
        if let tracked = self.retriesLeft.keys.randomElement(using: &generator), Bool.random(using: &generator) {
            tasks.insert(tracked, at: Int.random(in: 0...tasks.count, using: &generator))
        }
        let retries = [nil, nil, 0, 1, 2].randomElement(using: &generator)!
        return .submitted(tasks, retries: retries)
    }

    // MARK: Draining

    /// Brings an engine up if none is live, then finishes everything, and checks that every
    /// submitted task ended exactly once.
    mutating func drain() {
        self.step = -1
        self.apply(.engineJoined(0))
        for engine in self.live.sorted() where self.direct[engine]! > 0 {
            for _ in 0..<self.direct[engine]! {
                self.apply(.directFinished(engine))
            }
        }
        var rounds = 0
        while self.failures == 0, self.live.contains(where: { !self.running[$0]!.isEmpty }) {
            for engine in self.live.sorted() where !self.running[engine]!.isEmpty {
                self.apply(.finished(self.running[engine]!, on: engine))
            }
            rounds += 1
            self.check(rounds <= self.submitted.count + 1, "draining does not terminate")
        }

        self.check(self.queue.isEmpty, "tasks still pending after draining: \(self.queue)")
        self.check(
            self.balancer.unfinishedCount == 0,
            "the load balancer still tracks \(self.balancer.unfinishedCount)"
        )
        for task in self.submitted {
            self.check(self.endings[task]?.count == 1, "task \(task) ended \(self.endings[task] ?? []) times")
        }
    }
}
