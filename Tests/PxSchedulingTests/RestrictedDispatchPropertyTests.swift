import PxScheduling
import Testing

/// Random events with tasks restricted to sets of engines (load-balanced views on subsets), next to
/// tasks any engine may run, checked against a model that keeps one queue of all pending tasks:
/// - a task goes only to a live engine it may run on, and only while it is pending;
/// - no task waits while an engine it may run on has room;
/// - no task is passed over: one dispatched to an engine leaves behind no task ahead of it in the
///   queue that the engine could have run, and a task any engine may run leaves behind no
///   restricted task that its engine could have run (restricted tasks go first);
/// - retried tasks go back to the front of the queue, in their order;
/// - ``LoadBalancer/pendingTasks`` lists the restricted tasks in queue order, then the others.
@Suite("LoadBalancer restricted tasks, random events")
struct RestrictedDispatchPropertyTests {
    @Test(arguments: 1...8)
    func restrictedTasksGoInQueueOrderToTheirEngines(seed: UInt64) {
        var generator = SplitMix64(seed: seed)
        var run = RestrictedRun(prefetch: Int(seed % 3) + 1, seed: seed)
        for step in 0..<3000 where run.failures == 0 {
            run.step = step
            run.apply(run.randomEvent(using: &generator))
        }
        #expect(run.failures == 0)
        #expect(run.restrictedDispatches > 500, "the run should dispatch many restricted tasks")
    }
}

/// Counts a run's failures, so that checks need not mutate the run they describe.
private final class FailureCount {
    var count = 0
}

private struct RestrictedRun {
    let prefetch: Int
    let seed: UInt64
    var step = 0
    let failureCount = FailureCount()
    var failures: Int { self.failureCount.count }
    var restrictedDispatches = 0
    var balancer: LoadBalancer
    let enginePool: [EngineID] = [0, 1, 2, 3]
    /// The sets of engines that views are restricted to (nil: any engine).
    let views: [Set<EngineID>?] = [nil, [0], [0, 1], [1, 2], [2, 3], [0, 3]]
    var live: Set<EngineID> = []
    var running: [EngineID: [TaskID]] = [:]
    /// Every pending task, in the order of one queue.
    var queue: [TaskID] = []
    var allowed: [TaskID: Set<EngineID>] = [:]
    var retriesLeft: [TaskID: Int] = [:]
    var nextTask: UInt64 = 1

    init(prefetch: Int, seed: UInt64) {
        self.prefetch = prefetch
        self.seed = seed
        self.balancer = LoadBalancer(configuration: .init(prefetch: prefetch, defaultRetries: 1))
    }

    func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        guard !condition else { return }
        self.failureCount.count += 1
        Issue.record("seed \(self.seed), step \(self.step): \(message())")
    }

    func mayRun(_ task: TaskID, on engine: EngineID) -> Bool {
        self.allowed[task].map { $0.contains(engine) } ?? true
    }

    mutating func apply(_ event: LoadBalancer.Event) {
        switch event {
        case .engineJoined(let engine):
            if self.live.insert(engine).inserted { self.running[engine] = [] }
        case .engineLeft(let engine, _):
            guard self.live.remove(engine) != nil else { break }
            var requeued: [TaskID] = []
            for task in self.running.removeValue(forKey: engine) ?? [] {
                if self.retriesLeft[task, default: 0] > 0 {
                    self.retriesLeft[task]! -= 1
                    requeued.append(task)
                } else {
                    self.retriesLeft[task] = nil
                }
            }
            self.queue = requeued + self.queue
        case .submitted(let tasks, _, let allowed):
            for task in tasks {
                self.queue.append(task)
                self.allowed[task] = allowed
                self.retriesLeft[task] = 1
            }
        case .finished(let tasks, let engine):
            self.running[engine]?.removeAll { tasks.contains($0) }
            for task in tasks { self.retriesLeft[task] = nil }
        case .abortRequested(let tasks):
            self.queue.removeAll { tasks.contains($0) }
        default:
            break
        }

        let before = self.queue
        var dispatched: [(task: TaskID, engine: EngineID)] = []
        for action in self.balancer.handle(event) {
            guard case .dispatch(let tasks, let engine) = action else { continue }
            self.check(self.live.contains(engine), "\(event): dispatch to engine \(engine), which is not live")
            for task in tasks {
                self.check(before.contains(task), "\(event): dispatched \(task), which is not pending")
                self.check(self.mayRun(task, on: engine), "\(event): \(task) sent to engine \(engine), not its own")
                dispatched.append((task, engine))
                if self.allowed[task] != nil { self.restrictedDispatches += 1 }
            }
            self.running[engine, default: []] += tasks
        }
        let sent = Set(dispatched.map(\.task))
        self.queue.removeAll { sent.contains($0) }

        for (task, engine) in dispatched {
            let ahead = before.prefix { $0 != task }
            // Of the same kind: restricted tasks go first, so one that any engine may run can wait
            // behind them (the check below covers the other way round).
            let passedOver = ahead.filter {
                !sent.contains($0) && self.mayRun($0, on: engine)
                    && (self.allowed[$0] == nil) == (self.allowed[task] == nil)
            }
            self.check(passedOver.isEmpty, "\(event): \(task) went to engine \(engine) before \(passedOver)")
            if self.allowed[task] == nil {
                let restricted = self.queue.filter { self.allowed[$0] != nil && self.mayRun($0, on: engine) }
                self.check(restricted.isEmpty, "\(event): \(task) went to engine \(engine) before \(restricted)")
            }
        }
        for engine in self.live where self.running[engine, default: []].count < self.prefetch {
            let waiting = self.queue.filter { self.mayRun($0, on: engine) }
            self.check(waiting.isEmpty, "\(event): \(waiting) wait while engine \(engine) has room")
        }
        let expected = self.queue.filter { self.allowed[$0] != nil } + self.queue.filter { self.allowed[$0] == nil }
        self.check(
            self.balancer.pendingTasks == expected,
            "\(event): pending \(self.balancer.pendingTasks), model \(expected)"
        )
        self.check(
            self.balancer.restrictedPendingCount == self.queue.filter { self.allowed[$0] != nil }.count,
            "\(event): restrictedPendingCount \(self.balancer.restrictedPendingCount)"
        )
    }

    mutating func randomEvent(using generator: inout SplitMix64) -> LoadBalancer.Event {
        let engine = self.enginePool.randomElement(using: &generator)!
        switch Int.random(in: 0..<100, using: &generator) {
        case 0..<30 where self.queue.count < 150:
            let count = Int.random(in: 1...12, using: &generator)
            let tasks = (0..<count).map { TaskID(self.nextTask + UInt64($0)) }
            self.nextTask += UInt64(count)
            return .submitted(tasks, allowed: self.views.randomElement(using: &generator)!)
        case 0..<75:
            let busy = self.live.sorted().filter { !self.running[$0]!.isEmpty }
            guard let engine = busy.randomElement(using: &generator) else { return .engineJoined(engine) }
            return .finished([self.running[engine]!.first!], on: engine)
        case 75..<85:
            return .engineJoined(engine)
        case 85..<91:
            return .engineLeft(engine, retrying: true)
        default:
            let tasks = self.queue.filter { _ in Int.random(in: 0..<4, using: &generator) == 0 }
            return .abortRequested(tasks)
        }
    }
}
