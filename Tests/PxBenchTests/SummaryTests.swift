import Testing

@testable import PxBench

@Suite struct SummaryTests {
    @Test func medianOfAnOddCountIsTheMiddleSample() throws {
        let summary = try #require(Summary([5, 1, 3]))
        #expect(summary.median == 3)
        #expect(summary.minimum == 1)
        #expect(summary.maximum == 5)
        #expect(summary.count == 3)
    }

    @Test func medianOfAnEvenCountIsTheMeanOfTheMiddleTwo() throws {
        let summary = try #require(Summary([4, 1, 3, 2]))
        #expect(summary.median == 2.5)
    }

    /// NumPy's default (linear) percentile: numpy.percentile(range(1, 11), 90) == 9.1.
    @Test func p90InterpolatesLinearlyLikeNumPy() throws {
        let summary = try #require(Summary((1...10).map(Double.init)))
        #expect(abs(summary.p90 - 9.1) < 1e-12)
        #expect(summary.percentile(0) == 1)
        #expect(summary.percentile(100) == 10)
        #expect(summary.percentile(150) == 10)
    }

    @Test(arguments: [
        ([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 10.0),  // position 9.0 exactly
        ([10.0, 20], 19.0),  // 0.9 of the way from 10 to 20
        ([7.0], 7.0),
    ])
    func p90(_ samples: [Double], _ expected: Double) throws {
        #expect(abs(try #require(Summary(samples)).p90 - expected) < 1e-12)
    }

    @Test func ignoresNaNsAndRejectsNothing() {
        #expect(Summary([Double]()) == nil)
        #expect(Summary([.nan]) == nil)
        #expect(Summary([.nan, 2, .nan])?.median == 2)
    }

    @Test func meanIsReportedButNotUsedForComparisons() throws {
        #expect(try #require(Summary([1, 2, 9])).mean == 4)
    }
}
