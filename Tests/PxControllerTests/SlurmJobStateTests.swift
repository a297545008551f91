import PxPlatform
import Testing

@testable import PxController

/// What the controller reads from `squeue -h -j ID -o "%T %r"`.
struct SlurmJobStateTests {
    @Test(arguments: [
        (ProcessSpawner.Termination.exited(0), "PENDING JobHeldUser\n", "PENDING (JobHeldUser)"),
        (.exited(0), "RUNNING None\n", "RUNNING"),
        (.exited(0), "", ""),
        (.exited(1), "slurm_load_jobs error: Invalid job id specified\n", ""),
    ])
    func readsTheStateAndWhyItWaits(termination: ProcessSpawner.Termination, output: String, state: String) {
        #expect(Controller.slurmJobState(termination, output: output) == state)
    }

    @Test func cannotTellWhenSqueueFailsOtherwise() {
        #expect(Controller.slurmJobState(.exited(1), output: "Unable to contact slurm controller") == nil)
        #expect(Controller.slurmJobState(.signaled(9), output: "") == nil)
    }
}
