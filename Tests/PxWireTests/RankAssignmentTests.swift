import Testing

@testable import PxWire

@Suite struct RankAssignmentTests {
    @Test func ranksAreZeroToCountAndEnginesKeepTheirsWherePossible() {
        // Engine 1 of 0..5 was removed: engine 5 takes rank 1, the others keep theirs.
        #expect(
            RankAssignment.compact([(0, 0), (2, 2), (3, 3), (4, 4), (5, 5)]) == [0: 0, 2: 2, 3: 3, 4: 4, 5: 1]
        )
        // Already compact: nothing moves, whatever the order given.
        #expect(RankAssignment.compact([(3, 0), (1, 2), (2, 1)]) == [3: 0, 1: 2, 2: 1])
        // Duplicates and holes: the lower id keeps the rank; the others fill the holes in id order.
        #expect(RankAssignment.compact([(0, 1), (1, 1), (2, 7), (3, -1)]) == [0: 1, 1: 0, 2: 2, 3: 3])
        #expect(RankAssignment.compact([]) == [:])
    }

    @Test func ranksOfMPIJobsStayWhereTheyAre() {
        // MPI rank 0 of 0..3 is gone: the others keep their ranks (MPI.COMM_WORLD.rank cannot change),
        // even where that leaves a hole.
        #expect(RankAssignment.compact([(1, 1), (2, 2), (3, 3)], keeping: [1, 2, 3]) == [1: 1, 2: 2, 3: 3])
        // Engines that may move fill the ranks the kept ones leave free.
        #expect(RankAssignment.compact([(0, 0), (4, 5), (7, 1)], keeping: [4]) == [0: 0, 4: 5, 7: 1])
        #expect(RankAssignment.compact([(0, 2), (4, 2), (7, 1)], keeping: [4]) == [0: 0, 4: 2, 7: 1])
    }
}
