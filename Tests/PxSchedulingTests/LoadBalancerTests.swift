import PxScheduling
import Testing

@Suite("LoadBalancer")
struct LoadBalancerTests {
    // MARK: - Spreading work

    @Test func batchIsSpreadRoundRobinAndGroupedPerEngine() {
        var balancer = makeBalancer(engines: [0, 1, 2], prefetch: 2)

        let actions = balancer.handle(.submitted(taskIDs(1...10)))

        #expect(
            actions == [
                .dispatch([1, 4], to: 0),
                .dispatch([2, 5], to: 1),
                .dispatch([3, 6], to: 2),
            ]
        )
        #expect(balancer.pendingTasks == [7, 8, 9, 10])
        #expect(balancer.location(of: 5) == .dispatched(1))
        #expect(balancer.location(of: 7) == .pending)
        #expect(balancer.location(of: 11) == .unknown)
    }

    @Test func raisingThePrefetchDispatchesAtOnceAndLoweringItHoldsBack() {
        var balancer = makeBalancer(engines: [0, 1], prefetch: 1)
        #expect(balancer.handle(.submitted(taskIDs(1...8))) == [.dispatch([1], to: 0), .dispatch([2], to: 1)])

        #expect(balancer.handle(.prefetchChanged(3)) == [.dispatch([3, 5], to: 0), .dispatch([4, 6], to: 1)])

        // Back to 1: engines keep what they hold, but get nothing more until below the limit.
        #expect(balancer.handle(.prefetchChanged(1)).isEmpty)
        #expect(balancer.handle(.finished([1], on: 0)).isEmpty)
        #expect(balancer.handle(.finished([3, 5], on: 0)) == [.dispatch([7], to: 0)])
    }

    @Test func equallyLoadedEnginesTakeTurns() {
        var balancer = makeBalancer(engines: [2, 0, 1], prefetch: 1)
        var receivers: [EngineID] = []

        // Each task finishes before the next arrives, so every engine is idle each time: only the
        // tie-break decides, and it must rotate rather than pick engine 0 every time.
        for task in taskIDs(1...9) {
            let engine = try! #require(dispatches(in: balancer.handle(.submitted([task]))).keys.first)
            receivers.append(engine)
            #expect(balancer.handle(.finished([task], on: engine)).isEmpty)
        }

        #expect(receivers == [0, 1, 2, 0, 1, 2, 0, 1, 2])
    }

    @Test(arguments: [(engines: 1, prefetch: 1), (2, 1), (2, 2), (4, 3), (16, 2)])
    func prefetchBoundIsNeverExceeded(engines: Int, prefetch: Int) {
        let ids = (0..<engines).map { EngineID(Int32($0)) }
        var balancer = makeBalancer(engines: ids, prefetch: prefetch)

        let actions = balancer.handle(.submitted(taskIDs(1...1000)))

        #expect(actions.count == engines, "one dispatch per engine")
        for engine in ids {
            #expect(balancer.load(of: engine) == .init(balanced: prefetch, direct: 0))
        }
        #expect(balancer.pendingCount == 1000 - engines * prefetch)

        // A finished task makes room for exactly one more, on the engine that freed it.
        let first = balancer.outstandingTasks(on: 0)[0]
        #expect(
            balancer.handle(.finished([first], on: 0)) == [.dispatch([TaskID(UInt64(engines * prefetch + 1))], to: 0)]
        )
        #expect(balancer.load(of: 0)?.balanced == prefetch)
    }

    @Test func leastLoadedChoiceCountsDirectRequests() {
        var balancer = makeBalancer(engines: [0, 1, 2], prefetch: 3)
        _ = balancer.handle(.directQueued(1))
        _ = balancer.handle(.directQueued(1))
        _ = balancer.handle(.directQueued(2))
        var receivers: [EngineID] = []

        for task in taskIDs(1...7) {
            receivers.append(contentsOf: dispatches(in: balancer.handle(.submitted([task]))).keys)
        }

        // Loads of engines 0, 1, 2 before each choice: (0,2,1) -> 0; (1,2,1) -> 2, which got
        // work less recently than 0; (1,2,2) -> 0; (2,2,2) -> 1, which never got any;
        // (2,3,2) -> 2; (2,3,3) -> 0; then every engine is at the limit of 3 and task 7 waits.
        #expect(receivers == [0, 2, 0, 1, 2, 0])
        #expect(balancer.pendingTasks == [7])
        #expect(balancer.load(of: 1) == .init(balanced: 1, direct: 2))

        // The `%px` on engine 1 finishing makes room there.
        #expect(balancer.handle(.directFinished(1)) == [.dispatch([7], to: 1)])
    }

    @Test func directRequestsCountTowardsThePrefetchLimit() {
        var balancer = makeBalancer(engines: [0, 1], prefetch: 2)
        _ = balancer.handle(.directQueued(0))
        _ = balancer.handle(.directQueued(0))

        // Engine 0 is busy with two `%px` requests: balanced work goes elsewhere or waits, so
        // that it is not stuck behind them and can still be aborted.
        #expect(balancer.handle(.submitted(taskIDs(1...4))) == [.dispatch([1, 2], to: 1)])
        #expect(balancer.handle(.directFinished(0)) == [.dispatch([3], to: 0)])
        #expect(balancer.handle(.directFinished(0)) == [.dispatch([4], to: 0)])
    }

    // MARK: - Tasks restricted to some engines

    @Test func aRestrictedTaskRunsOnlyOnItsEnginesAndHoldsBackNoOtherTask() {
        var balancer = makeBalancer(engines: [0, 1, 2], prefetch: 1)
        #expect(balancer.handle(.submitted(taskIDs(1...2), allowed: [2])) == [.dispatch([1], to: 2)])
        #expect(balancer.pendingTasks == [2])
        #expect(balancer.restrictedPendingCount == 1)

        // Task 2 waits for engine 2; later tasks that any engine may run go past it.
        #expect(balancer.handle(.submitted(taskIDs(3...5))) == [.dispatch([3], to: 0), .dispatch([4], to: 1)])
        #expect(balancer.handle(.finished([3], on: 0)) == [.dispatch([5], to: 0)])
        #expect(balancer.handle(.finished([1], on: 2)) == [.dispatch([2], to: 2)])
        #expect(balancer.pendingCount == 0 && balancer.restrictedPendingCount == 0)
    }

    @Test func restrictedTasksGoToTheLeastLoadedOfTheirEnginesBeforeOtherWaitingTasks() {
        var balancer = makeBalancer(engines: [0, 1, 2], prefetch: 1)
        #expect(
            balancer.handle(.submitted(taskIDs(1...5)))
                == [.dispatch([1], to: 0), .dispatch([2], to: 1), .dispatch([3], to: 2)]
        )
        #expect(balancer.handle(.submitted(taskIDs(6...7), allowed: [0, 1])).isEmpty)
        // Engine 2 frees up: it may not run 6 or 7, so it takes 4. Engine 1 then takes 6, first.
        #expect(balancer.handle(.finished([3], on: 2)) == [.dispatch([4], to: 2)])
        #expect(balancer.handle(.finished([2], on: 1)) == [.dispatch([6], to: 1)])
        #expect(balancer.handle(.finished([1], on: 0)) == [.dispatch([7], to: 0)])
        #expect(balancer.pendingTasks == [5])
    }

    @Test func aRestrictedTaskIsRetriedOnlyOnItsEnginesAndCanBeAborted() {
        var balancer = makeBalancer(engines: [0, 1, 2], prefetch: 1)
        #expect(balancer.handle(.submitted([1], allowed: [0, 1])) == [.dispatch([1], to: 0)])
        #expect(balancer.handle(.submitted([2])) == [.dispatch([2], to: 1)])

        // Engine 0 dies: engine 2 is free but not allowed; the task waits for engine 1.
        #expect(balancer.handle(.engineLeft(0)) == [.retrying(1, after: 0)])
        #expect(balancer.pendingTasks == [1])
        #expect(balancer.handle(.finished([2], on: 1)) == [.dispatch([1], to: 1)])

        #expect(balancer.handle(.submitted([3], allowed: [1])).isEmpty)
        #expect(balancer.handle(.abortRequested([3])) == [.failed(3, .aborted)])
        #expect(balancer.pendingCount == 0 && balancer.restrictedPendingCount == 0)
        #expect(balancer.handle(.finished([1], on: 1)).isEmpty)
        #expect(balancer.unfinishedCount == 0)
    }

    /// Restricted tasks of several views go in one queue order: a task retried after its engine died
    /// goes first, before an older task of another view that could take the same engine.
    @Test func restrictedTasksOfSeveralViewsGoInQueueOrderRetriedFirst() {
        var balancer = makeBalancer(engines: [0, 1, 2], prefetch: 1)
        #expect(balancer.handle(.submitted([1], allowed: [0, 2])) == [.dispatch([1], to: 0)])
        #expect(balancer.handle(.submitted([2], allowed: [1, 2])) == [.dispatch([2], to: 1)])
        #expect(balancer.handle(.submitted([3], allowed: [2])) == [.dispatch([3], to: 2)])
        #expect(balancer.handle(.submitted([4], allowed: [1, 2])).isEmpty)
        #expect(balancer.handle(.engineLeft(0)) == [.retrying(1, after: 0)])
        #expect(balancer.pendingTasks == [1, 4])
        // Engine 2 frees up: both 1 and 4 may run there; 1 is ahead.
        #expect(balancer.handle(.finished([3], on: 2)) == [.dispatch([1], to: 2)])
        #expect(balancer.handle(.finished([2], on: 1)) == [.dispatch([4], to: 1)])
        #expect(balancer.restrictedPendingCount == 0 && balancer.pendingTasks.isEmpty)
    }

    /// A long map on a view of some engines waits for them without holding back other work, and
    /// goes in order, whatever else is submitted meanwhile.
    @Test func aLongRestrictedMapGoesInOrderBesideOtherWork() {
        var balancer = makeBalancer(engines: [0, 1, 2], prefetch: 1)
        #expect(balancer.handle(.submitted(taskIDs(1...1000), allowed: [0])) == [.dispatch([1], to: 0)])
        #expect(
            balancer.handle(.submitted(taskIDs(1001...1002))) == [.dispatch([1001], to: 1), .dispatch([1002], to: 2)]
        )
        for task in UInt64(1)..<1000 {
            #expect(balancer.handle(.finished([TaskID(task)], on: 0)) == [.dispatch([TaskID(task + 1)], to: 0)])
        }
        #expect(balancer.pendingCount == 0)
    }

    // MARK: - Completion

    @Test func completionRefillsTheEngineThatFreedUp() {
        var balancer = makeBalancer(engines: [0, 1], prefetch: 2)
        #expect(balancer.handle(.submitted(taskIDs(1...7))) == [.dispatch([1, 3], to: 0), .dispatch([2, 4], to: 1)])

        #expect(balancer.handle(.finished([1], on: 0)) == [.dispatch([5], to: 0)])
        // A batch of results from one engine refills it with one batch of tasks.
        #expect(balancer.handle(.finished([2, 4], on: 1)) == [.dispatch([6, 7], to: 1)])
        #expect(balancer.handle(.finished([3, 5], on: 0)).isEmpty)
        #expect(balancer.handle(.finished([6, 7], on: 1)).isEmpty)

        #expect(balancer.unfinishedCount == 0)
        #expect(balancer.load(of: 0) == .init(balanced: 0, direct: 0))
        #expect(balancer.location(of: 1) == .unknown)
    }

    // MARK: - Engine loss and retries

    @Test func engineDeathRequeuesItsTasksAtTheFront() {
        var balancer = makeBalancer(engines: [0, 1], prefetch: 2)
        _ = balancer.handle(.submitted(taskIDs(1...6)))

        let actions = balancer.handle(.engineLeft(0))

        // Engine 1 is full, so the retried tasks wait, ahead of the tasks that never ran.
        #expect(actions == [.retrying(1, after: 0), .retrying(3, after: 0)])
        #expect(balancer.pendingTasks == [1, 3, 5, 6])
        #expect(balancer.liveEngines == [1])
        #expect(balancer.handle(.finished([2], on: 1)) == [.dispatch([1], to: 1)])
    }

    @Test func retriedTasksAreDispatchedInTheSameEventWhenThereIsRoom() {
        var balancer = makeBalancer(engines: [0, 1], prefetch: 2)
        _ = balancer.handle(.submitted(taskIDs(1...2)))

        #expect(balancer.handle(.engineLeft(1)) == [.retrying(2, after: 1), .dispatch([2], to: 0)])
        #expect(balancer.outstandingTasks(on: 0) == [1, 2])
    }

    @Test func taskFailsOnceItsRetryBudgetIsSpent() {
        var balancer = makeBalancer(engines: [0, 1], prefetch: 1, retries: 1)
        #expect(balancer.handle(.submitted([7])) == [.dispatch([7], to: 0)])

        #expect(balancer.handle(.engineLeft(0)) == [.retrying(7, after: 0), .dispatch([7], to: 1)])
        #expect(balancer.handle(.engineLeft(1)) == [.failed(7, .engineDied(1))])

        #expect(balancer.unfinishedCount == 0)
        #expect(balancer.location(of: 7) == .unknown)
    }

    @Test(arguments: [(retries: Int?.none, expected: 1), (0, 0), (2, 2), (5, 5), (-1, 0)])
    func retryBudgetComesFromTheSubmission(retries: Int?, expected: Int) {
        var balancer = makeBalancer(engines: [0], prefetch: 1, retries: 1)
        _ = balancer.handle(.submitted([1], retries: retries))
        var retried = 0

        // The same engine dies and restarts until the task gives up.
        while true {
            let actions = balancer.handle(.engineLeft(0))
            if actions == [.failed(1, .engineDied(0))] { break }
            #expect(actions == [.retrying(1, after: 0)])
            retried += 1
            #expect(balancer.handle(.engineJoined(0)) == [.dispatch([1], to: 0)])
        }

        #expect(retried == expected)
    }

    @Test func anEngineRestartedByTheUserFailsItsTasksInsteadOfRetryingThem() {
        var balancer = makeBalancer(engines: [0, 1], prefetch: 1, retries: 1)
        _ = balancer.handle(.submitted([7, 8]))

        #expect(balancer.handle(.engineLeft(0, retrying: false)) == [.failed(7, .engineDied(0))])
        #expect(balancer.location(of: 8) == .dispatched(1))
    }

    @Test func aRunningTaskThatWasAskedToAbortIsNotRetriedWhenItsEngineGoes() {
        var balancer = makeBalancer(engines: [0, 1], prefetch: 1, retries: 1)
        _ = balancer.handle(.submitted([7, 8, 9]))
        #expect(balancer.handle(.abortRequested([7, 9])) == [.failed(9, .aborted), .notAborted([7])])

        // Ctrl-C twice: the engine that ignored the interrupt is killed; task 7 must not run again.
        #expect(balancer.handle(.engineLeft(0)) == [.failed(7, .engineDied(0))])
        #expect(balancer.location(of: 8) == .dispatched(1))
    }

    @Test func removedEngineWithoutTasksChangesNothingElse() {
        var balancer = makeBalancer(engines: [0, 1], prefetch: 2)
        _ = balancer.handle(.submitted([1]))

        #expect(balancer.handle(.engineLeft(1)).isEmpty)
        #expect(balancer.outstandingTasks(on: 0) == [1])
    }

    // MARK: - Abort

    @Test func abortFailsPendingTasksAndReportsRunningOnes() {
        var balancer = makeBalancer(engines: [0], prefetch: 2)
        _ = balancer.handle(.submitted(taskIDs(1...5)))

        let actions = balancer.handle(.abortRequested([2, 3, 5, 99]))

        #expect(actions == [.failed(3, .aborted), .failed(5, .aborted), .notAborted([2])])
        #expect(balancer.pendingTasks == [4])
        #expect(balancer.location(of: 2) == .dispatched(0))
        #expect(balancer.handle(.finished([1, 2], on: 0)) == [.dispatch([4], to: 0)])
    }

    @Test func abortOfOnlyPendingTasksHasNoNotAbortedNotice() {
        var balancer = makeBalancer(engines: [], prefetch: 2)
        _ = balancer.handle(.submitted(taskIDs(1...3)))

        #expect(balancer.handle(.abortRequested(taskIDs(1...3))) == (1...3).map { .failed(TaskID($0), .aborted) })
        #expect(balancer.pendingCount == 0)
        #expect(balancer.handle(.engineJoined(0)).isEmpty)
    }

    @Test func abortedTaskIDCanBeSubmittedAgain() {
        var balancer = makeBalancer(engines: [], prefetch: 2)
        _ = balancer.handle(.submitted([1, 2, 3]))
        _ = balancer.handle(.abortRequested([2]))

        // The aborted entry is still in the queue as a tombstone; the new submission must not
        // revive it, or task 2 would be dispatched twice.
        _ = balancer.handle(.submitted([2]))

        #expect(balancer.pendingTasks == [1, 3, 2])
        #expect(balancer.handle(.engineJoined(0)) == [.dispatch([1, 3], to: 0)])
        #expect(balancer.handle(.finished([1, 3], on: 0)) == [.dispatch([2], to: 0)])
        #expect(balancer.handle(.finished([2], on: 0)).isEmpty)
        #expect(balancer.unfinishedCount == 0)
    }

    @Test func abortingMostOfALargeQueueKeepsTheRestInOrder() {
        var balancer = makeBalancer(engines: [], prefetch: 1)
        _ = balancer.handle(.submitted(taskIDs(1...10_000)))

        let aborted = balancer.handle(.abortRequested(taskIDs(1...10_000).filter { $0.rawValue % 10 != 0 }))

        #expect(aborted.count == 9000)
        #expect(balancer.pendingTasks == taskIDs(1...1000).map { TaskID($0.rawValue * 10) })
        var order: [TaskID] = []
        _ = balancer.handle(.engineJoined(0))
        while let task = balancer.outstandingTasks(on: 0).first {
            order.append(task)
            _ = balancer.handle(.finished([task], on: 0))
        }
        #expect(order == taskIDs(1...1000).map { TaskID($0.rawValue * 10) })
    }

    // MARK: - Engines joining

    @Test func tasksWaitWithoutEnginesAndFlowWhenOneJoins() {
        var balancer = makeBalancer(engines: [], prefetch: 2)

        #expect(balancer.handle(.submitted(taskIDs(1...5))).isEmpty)
        #expect(balancer.pendingCount == 5)
        #expect(balancer.handle(.engineJoined(3)) == [.dispatch([1, 2], to: 3)])
        #expect(balancer.handle(.engineJoined(1)) == [.dispatch([3, 4], to: 1)])
    }

    @Test func restartedEngineGetsWorkAndStartsWithoutDirectLoad() {
        var balancer = makeBalancer(engines: [0, 1], prefetch: 1)
        _ = balancer.handle(.directQueued(1))
        _ = balancer.handle(.submitted(taskIDs(1...3)))
        #expect(balancer.outstandingTasks(on: 0) == [1])

        #expect(balancer.handle(.engineLeft(1)).isEmpty)
        #expect(balancer.handle(.engineJoined(1)) == [.dispatch([2], to: 1)])
        #expect(balancer.load(of: 1) == .init(balanced: 1, direct: 0))
    }

    // MARK: - Events that do not fit

    @Test(
        arguments: [
            LoadBalancer.Event.finished([99], on: 0),
            .finished([2], on: 0),
            .finished([5], on: 0),
            .finished([1], on: 7),
            .finished([], on: 0),
            .submitted([1, 2, 5]),
            .submitted([]),
            .engineJoined(0),
            .engineLeft(9),
            .directQueued(9),
            .directFinished(0),
            .directFinished(9),
            .abortRequested([99]),
            .abortRequested([]),
        ]
    )
    func eventThatDoesNotFitIsIgnored(event: LoadBalancer.Event) {
        var balancer = makeBalancer(engines: [0, 1], prefetch: 2)
        _ = balancer.handle(.submitted(taskIDs(1...6)))
        let before = Snapshot(balancer)

        #expect(balancer.handle(event).isEmpty)
        #expect(Snapshot(balancer) == before)
    }

    @Test func finishingATaskTwiceCountsItOnce() {
        var balancer = makeBalancer(engines: [0], prefetch: 2)
        _ = balancer.handle(.submitted(taskIDs(1...2)))

        #expect(balancer.handle(.finished([1, 1], on: 0)).isEmpty)
        #expect(balancer.handle(.finished([1], on: 0)).isEmpty)
        #expect(balancer.load(of: 0) == .init(balanced: 1, direct: 0))
        #expect(balancer.unfinishedCount == 1)
    }

    @Test func lateResultFromARemovedEngineIsIgnored() {
        var balancer = makeBalancer(engines: [0, 1], prefetch: 1)
        _ = balancer.handle(.submitted([1]))
        #expect(balancer.handle(.engineLeft(0)) == [.retrying(1, after: 0), .dispatch([1], to: 1)])

        // The removed engine's result for task 1 arrives after all: task 1 still holds engine 1.
        #expect(balancer.handle(.finished([1], on: 0)).isEmpty)
        #expect(balancer.outstandingTasks(on: 1) == [1])
    }
}
