import Testing

@testable import PxBench

/// The pairing of blocks for a ratio taken side by side, as a value: no processes.
@Suite struct InterleavedBlocksTests {
    typealias Step = InterleavedBlocks.Step

    @Test func pairsAlternateWhichSideRunsFirst() {
        let steps = InterleavedBlocks(pairs: 3).steps()
        #expect(
            steps == [
                Step(pair: 0, side: .reference), Step(pair: 0, side: .subject),
                Step(pair: 1, side: .subject), Step(pair: 1, side: .reference),
                Step(pair: 2, side: .reference), Step(pair: 2, side: .subject),
            ]
        )
    }

    @Test func oneSideAloneRunsItsBlocksInARow() {
        let steps = InterleavedBlocks(pairs: 3).steps(for: [.subject])
        #expect(steps == (0..<3).map { Step(pair: $0, side: .subject) })
        #expect(InterleavedBlocks(pairs: 2).steps(for: []).isEmpty)
    }

    @Test func measureRunsEachStepOnceInOrderAndKeepsItsSamples() {
        var order: [InterleavedBlocks.Side] = []
        let blocks = InterleavedBlocks.measure(pairs: 2, sides: [.subject, .reference]) { side in
            order.append(side)
            return side == .subject ? [3, 30, 3] : [1, 2, 1]
        }
        #expect(order == [.reference, .subject, .subject, .reference])
        #expect(blocks.samples(of: .subject) == [3, 30, 3, 3, 30, 3])
        #expect(blocks.samples(of: .reference) == [1, 2, 1, 1, 2, 1])
        // Each pair's medians: 3 over 1. The 30 and the 2 are one slow sample each, which the medians ignore.
        #expect(blocks.ratios == [3, 3])
    }

    @Test func theRatioIsTakenWithinEachPair() throws {
        var blocks = InterleavedBlocks(pairs: 3)
        // The machine slows down 2× and 4× from pair to pair; the subject stays 1.5× the reference throughout.
        for (pair, speed) in [1.0, 2.0, 4.0].enumerated() {
            blocks.record([100, 110, 90].map { $0 * speed }, at: Step(pair: pair, side: .reference))
            blocks.record([150, 165, 135].map { $0 * speed }, at: Step(pair: pair, side: .subject))
        }
        #expect(blocks.ratios == [1.5, 1.5, 1.5])
        let summary = try #require(Summary(blocks.ratios))
        #expect(summary.median == 1.5)
        #expect(summary.minimum == 1.5 && summary.maximum == 1.5)
        // The two rows' own medians, taken over all blocks, mix the speeds.
        #expect(try #require(Summary(blocks.samples(of: .reference))).median == 200)
    }

    @Test func aPairWithoutBothBlocksOrWithAZeroReferenceGivesNoRatio() {
        var blocks = InterleavedBlocks(pairs: 3)
        blocks.record([2], at: Step(pair: 0, side: .subject))
        blocks.record([4], at: Step(pair: 1, side: .subject))
        blocks.record([0], at: Step(pair: 1, side: .reference))
        blocks.record([6], at: Step(pair: 2, side: .subject))
        blocks.record([], at: Step(pair: 2, side: .reference))
        #expect(blocks.ratios.isEmpty)
        blocks.record([1], at: Step(pair: 0, side: .reference))
        #expect(blocks.ratios == [2])
    }
}
