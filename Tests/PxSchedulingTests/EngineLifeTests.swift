import Testing

@testable import PxScheduling

@Suite struct EngineLifeTests {
    @Test func aChildGoesFromLaunchingToBusyAndBack() {
        var life = EngineLife(origin: .child)
        #expect(life.state == .launching)
        #expect(life.needsReaping)
        #expect(life.isStartingForTheFirstTime)
        let accepted1 = life.handle(.workQueued)
        #expect(accepted1)  // tasks wait for it
        #expect(life.state == .launching)
        let accepted2 = life.handle(.connected)
        #expect(accepted2)
        #expect(life.state == .registering)
        #expect(!life.takesTasks)
        let accepted3 = life.handle(.registered(hasWork: true))
        #expect(accepted3)
        #expect(life.state == .busy)
        #expect(life.hasRegistered)
        #expect(!life.needsReaping)
        let accepted4 = life.handle(.workDrained)
        #expect(accepted4)
        #expect(life.state == .idle)
        #expect(life.takesTasks)
        let accepted5 = life.handle(.workQueued)
        #expect(accepted5)
        #expect(life.state == .busy)
    }

    @Test func aRemoteEngineStartsRegisteringAndCannotBeRestarted() {
        var life = EngineLife(origin: .remote(host: "10.1.0.2"))
        #expect(life.state == .registering)
        #expect(life.host == "10.1.0.2")
        #expect(!life.needsReaping)
        let rejected6 = !life.handle(.connected)
        #expect(rejected6)
        let accepted7 = life.handle(.registered(hasWork: false))
        #expect(accepted7)
        let rejected8 = !life.handle(.restartRequested)
        #expect(rejected8)
        #expect(life.state == .idle)
        let accepted9 = life.handle(.connectionLost(reason: "no heartbeat for 6 s"))
        #expect(accepted9)
        #expect(life.state == .lost(reason: "no heartbeat for 6 s"))
        #expect(!life.acceptsWork)
        #expect(!life.needsReaping)  // nothing to reap on another host
        let accepted10 = life.handle(.exited(cause: "no heartbeat for 6 s"))
        #expect(accepted10)
        #expect(life.isDead)
        let rejected11 = !life.handle(.relaunched)
        #expect(rejected11)
        #expect(life.isDead)
    }

    /// An engine of the ssh launcher: asked to restart, it stays restarting while its connection
    /// closes and its end is seen, then waits (launching) for its successor to join.
    @Test func aRemoteEngineThatCanBeRelaunchedRestartsAsAChildDoes() {
        var life = EngineLife(origin: .remote(host: "10.1.0.2"), isRelaunchable: true)
        life.handle(.registered(hasWork: false))
        let acceptedR1 = life.handle(.restartRequested)
        #expect(acceptedR1)
        #expect(life.state == .restarting)
        #expect(life.acceptsWork && life.isStarting)
        let acceptedR2 = life.handle(.connectionLost(reason: "its connection closed"))
        #expect(acceptedR2)
        let acceptedR3 = life.handle(.exited(cause: "its connection closed"))
        #expect(acceptedR3)
        #expect(life.state == .restarting)
        #expect(!life.needsReaping)
        let acceptedR4 = life.handle(.relaunched)
        #expect(acceptedR4)
        #expect(life.state == .launching)
        // Its successor never joined (its ssh failed): it is dead, and not relaunched from there.
        let acceptedR5 = life.handle(.exited(cause: "its launcher ended"))
        #expect(acceptedR5)
        #expect(life.isDead)
        let rejectedR6 = !life.handle(.relaunched)
        #expect(rejectedR6)
    }

    /// An engine that `%add` starts with the ssh launcher: launching (work waits for it, no process
    /// here to reap) until it joins, or dead when its ssh ends first.
    @Test func aRemoteEngineTheLauncherStartsIsLaunchingUntilItJoins() {
        var life = EngineLife(origin: .remote(host: "10.1.0.2"), isRelaunchable: true, isLaunching: true)
        #expect(life.state == .launching)
        #expect(life.isStarting && life.isStartingForTheFirstTime && life.acceptsWork && !life.takesTasks)
        #expect(!life.needsReaping)
        let queued = life.handle(.workQueued)
        #expect(queued && life.state == .launching)
        var failed = life
        let ended = failed.handle(.exited(cause: "its launcher ended"))
        #expect(ended && failed.isDead && !failed.hasRegistered)
        let connected = life.handle(.connected)
        let registered = life.handle(.registered(hasWork: true))
        #expect(connected && registered && life.state == .busy)
    }

    @Test func aLostChildIsReapedIntoDeadAndRelaunched() {
        var life = EngineLife(origin: .child)
        life.handle(.connected)
        life.handle(.registered(hasWork: false))
        let accepted12 = life.handle(.connectionLost(reason: "closed"))
        #expect(accepted12)
        #expect(life.needsReaping)
        let accepted13 = life.handle(.exited(cause: "signal 9"))
        #expect(accepted13)
        #expect(life.state == .dead(cause: "signal 9"))
        let rejected14 = !life.handle(.exited(cause: "again"))
        #expect(rejected14)  // reported once
        #expect(!life.acceptsWork)
        let accepted15 = life.handle(.relaunched)
        #expect(accepted15)
        #expect(life.state == .launching)
        #expect(life.hasRegistered)
    }

    @Test func aRestartKeepsWorkWaitingThroughTheExit() {
        var life = EngineLife(origin: .child)
        life.handle(.connected)
        life.handle(.registered(hasWork: true))
        let accepted16 = life.handle(.restartRequested)
        #expect(accepted16)
        #expect(life.state == .restarting)
        #expect(life.acceptsWork)
        #expect(life.isStarting)
        let accepted17 = life.handle(.connectionLost(reason: "closed"))
        #expect(accepted17)
        let accepted18 = life.handle(.exited(cause: "signal 9"))
        #expect(accepted18)
        #expect(life.state == .restarting)
        #expect(life.needsReaping)
        let accepted19 = life.handle(.workQueued)
        #expect(accepted19)
        let accepted20 = life.handle(.relaunched)
        #expect(accepted20)
        #expect(life.state == .launching)
    }

    @Test func anEngineThatNeverStartedIsNotTakenForOneThatDid() {
        var life = EngineLife(origin: .child)
        let accepted21 = life.handle(.exited(cause: "exit status 1"))
        #expect(accepted21)
        #expect(life.isDead)
        #expect(!life.hasRegistered)
        let rejected22 = !life.handle(.connectionLost(reason: "closed"))
        #expect(rejected22)
    }

    @Test func removalIsRequestedOnceAndStopsWork() {
        var life = EngineLife(origin: .child)
        life.handle(.connected)
        life.handle(.registered(hasWork: false))
        let accepted23 = life.handle(.removeRequested)
        #expect(accepted23)
        let rejected24 = !life.handle(.removeRequested)
        #expect(rejected24)
        #expect(life.isBeingRemoved)
        #expect(!life.acceptsWork)
        let accepted25 = life.handle(.exited(cause: "signal 9"))
        #expect(accepted25)
        #expect(life.isDead)
    }

    @Test func invalidEventsChangeNothing() {
        var life = EngineLife(origin: .child)
        let before = life
        let rejected26 = !life.handle(.registered(hasWork: false))
        #expect(rejected26)
        let rejected27 = !life.handle(.workDrained)
        #expect(rejected27)
        let rejected28 = !life.handle(.connectionLost(reason: "x"))
        #expect(rejected28)
        #expect(life == before)
    }
}
