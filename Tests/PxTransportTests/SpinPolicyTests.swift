import Testing

@testable import PxPlatform

/// When a wait for a reply polls before it sleeps, as a value: no processes, no /proc.
@Suite struct SpinPolicyTests {
    /// A policy that has seen one reply after `lastWait` s, with `runnable` tasks on `cpus` CPUs.
    func policy(runnable: Int?, cpus: Int = 2, lastWait: Double = 100e-6) -> SpinPolicy {
        var policy = SpinPolicy(cpus: cpus, runnableTasks: { runnable })
        policy.ended(waited: lastWait, spun: false, caught: false)
        return policy
    }

    @Test func aMachineWithASpareCPUSpinsTwiceAsLongAsTheLastWaitAtMostLongest() {
        var quick = policy(runnable: 2, lastWait: 100e-6)
        #expect(quick.budget(tasks: 1) == 200e-6)
        var slow = policy(runnable: 1, lastWait: 2)
        #expect(slow.budget(tasks: 1) == SpinPolicy.longest)
    }

    @Test func aBusyMachineOrAnUnknownLoadDoesNotSpin() {
        var busy = policy(runnable: 3)
        #expect(busy.budget(tasks: 1) == 0)
        var unknown = policy(runnable: nil)
        #expect(unknown.budget(tasks: 1) == 0)
    }

    @Test func onlyAWaitForFewerTasksThanCPUsSpins() {
        var spin = policy(runnable: 1, cpus: 2)
        #expect([1, 2, 4].map { spin.budget(tasks: $0) > 0 } == [true, false, false])
    }

    @Test func theLoadIsReadAgainAfterAWhileNotAfterEveryReply() {
        var runnable = 1
        var spin = SpinPolicy(cpus: 2, runnableTasks: { runnable })
        spin.ended(waited: 100e-6, spun: false, caught: false)
        runnable = 9
        spin.ended(waited: 100e-6, spun: false, caught: false)
        #expect(spin.budget(tasks: 1) > 0)  // read less than sampleEvery ago
        spin.nextSample = 0
        spin.ended(waited: 100e-6, spun: false, caught: false)
        #expect(spin.budget(tasks: 1) == 0)
    }

    @Test func spinsThatMissTheirReplyBackOffAndOneThatCatchesItEndsThat() {
        var spin = policy(runnable: 1)
        var pattern: [Int] = []
        for _ in 0..<5 {
            spin.ended(waited: 300e-6, spun: true, caught: false)
            var skipped = 0
            while spin.budget(tasks: 1) == 0 { skipped += 1 }
            pattern.append(skipped)
        }
        #expect(pattern == [1, 2, 4, 8, 16])
        spin.ended(waited: 100e-6, spun: true, caught: true)
        #expect(spin.budget(tasks: 1) > 0)
        for _ in 0..<20 { spin.ended(waited: 300e-6, spun: true, caught: false) }
        #expect(spin.skip == SpinPolicy.backoffLimit)
        #expect(spin.spins == 26 && spin.caught == 1)
    }

    @Test func theRunnableCountIsReadFromProcLoadavg() {
        #expect((SpinPolicy.runnableTasks() ?? 0) >= 1)  // this thread runs while it reads
    }
}
