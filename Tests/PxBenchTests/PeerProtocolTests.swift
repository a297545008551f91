import PxPlatform
import Testing

@testable import PxBench

#if canImport(Glibc)
import Glibc
#endif

@Suite struct PeerOutputParserTests {
    @Test func readsEveryKindOfLine() throws {
        var parser = PeerOutputParser(system: .ipyparallel)
        let measured = parser.consume("sample\tmap.chunk1\tmap_sync(chunksize=1)\t400.0 500.5 1e3")
        #expect(measured?.summary.median == 500.5)
        parser.consume("skip\tpush.1MB\tno namespace")
        parser.consume("fail\tpull.1MB\tAssertionError: wrong")
        parser.consume("info\tversion\t9.2.0")
        parser.consume("Traceback (most recent call last):")
        #expect(parser.measurements.map(\.measureID) == ["map.chunk1"])
        #expect(parser.measurements.first?.setting == "map_sync(chunksize=1)")
        #expect(parser.omissions.map(\.isFailure) == [false, true])
        #expect(parser.facts == ["version": "9.2.0"])
        #expect(parser.logTail == ["Traceback (most recent call last):"])
        #expect(parser.unavailableReason == nil)
        parser.consume("unavailable\tcannot import ipyparallel")
        #expect(parser.unavailableReason == "cannot import ipyparallel")
    }

    @Test func sampleWithoutValuesIsAFailure() {
        var parser = PeerOutputParser(system: .multiprocessing)
        parser.consume("sample\tmap.auto\tPool.map\t")
        #expect(parser.measurements.isEmpty)
        #expect(parser.omissions.first?.isFailure == true)
    }

    @Test func keepsOnlyTheLastLogLines() {
        var parser = PeerOutputParser(system: .multiprocessing)
        for index in 0..<100 { parser.consume("log \(index)") }
        #expect(parser.logTail.count == PeerOutputParser.logTailLength)
        #expect(parser.logTail.last == "log 99")
    }
}

/// The peers' script and the Swift side must agree on the plan's options.
@Suite struct PeerScriptContractTests {
    @Test func scriptAcceptsEveryOptionThatPxshPasses() {
        let script = String(decoding: PackageResources.peer_bench_py, as: UTF8.self)
        let suite = PeerSuite(system: .multiprocessing, plan: .quick, python: "python3")
        let options = suite.arguments.filter { $0.hasPrefix("--") }
        #expect(options.count == 16)
        for option in options { #expect(script.contains("parser.add_argument(\"\(option)\""), "\(option)") }
        #expect(script.contains("parser.add_argument(\"--serve-call-blocks\""))
    }

    @Test func ipyparallelGetsItsSmallerChunkOneCount() {
        let arguments = PeerSuite(system: .ipyparallel, plan: .quick, python: "python3").arguments
        let index = arguments.firstIndex(of: "--chunk-one-tasks")!
        #expect(arguments[index + 1] == String(BenchPlan.quick.chunkOneTasksForIpyparallel))
    }
}

/// Runs the real peers' script, multiprocessing part, on tiny sizes: the protocol end to end, without pxsh's
/// engines. Skipped when there is no python3 on PATH.
@Suite(.serialized) struct PeerScriptTests {
    static var tinyPlan: BenchPlan {
        var plan = BenchPlan(
            coldStartRuns: 2,
            callCount: 3,
            scriptRuns: 1,
            roundTripCalls: 3,
            roundTripWarmupCalls: 1,
            interleavedPairs: 2,
            chunkOneTasks: 20,
            chunkOneTasksForIpyparallel: 10,
            mapRuns: 2,
            transferRuns: 1,
            scatterRuns: 1
        )
        plan.coldStartEngineCounts = [1, 2]
        plan.roundTripEngineCounts = [1]
        plan.engines = 2
        plan.autoChunkItems = 100
        plan.transferSizes = [1_000_000]
        plan.scatterItems = 10
        return plan
    }

    static var hasPython: Bool { PeerScriptTests.which("python3") != nil }

    static func which(_ name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { access($0, X_OK) == 0 }
    }

    @Test(.enabled(if: hasPython)) func multiprocessingMeasuresWhatItCanAndSkipsTheRest() throws {
        let plan = Self.tinyPlan
        let suite = PeerSuite(system: .multiprocessing, plan: plan, python: Self.which("python3")!, idleSeconds: 60)
        var progress: [String] = []
        let outcome = try suite.run { progress.append($0.measureID) }
        #expect(outcome.unavailableReason == nil)
        #expect(outcome.omissions.filter(\.isFailure).isEmpty, "\(outcome.omissions)")
        #expect(outcome.version?.contains("start method") == true)
        let measured = Set(outcome.measurements.map(\.measureID))
        #expect(
            measured == [
                "cold_start.n1", "cold_start.n2", "cli.n4", "call", "map.chunk1", "map.auto", "rss.engine",
                "pss.cluster",
            ]
        )
        #expect(progress.count == measured.count)
        // Every row is either measured or skipped with a reason.
        let accounted = measured.union(outcome.omissions.map(\.measureID))
        #expect(accounted == Set(MeasureCatalog.measures(for: plan).map(\.id)))
        let coldStart = try #require(outcome.measurements.first { $0.measureID == "cold_start.n2" })
        #expect(coldStart.summary.count == plan.coldStartRuns)
        #expect(coldStart.summary.median > 0)
    }

    /// concurrent.futures' call served in blocks on request, as pxsh runs them between its own; the script and
    /// its executor's workers are gone once the blocks are done.
    @Test(.enabled(if: hasPython)) func concurrentFuturesServesCallBlocksOnRequest() throws {
        var started: [pid_t] = []
        let blocks = try PeerCallBlocks.with(.concurrentFutures, plan: Self.tinyPlan, python: Self.which("python3")!) {
            peer in
            let first = try peer.block(calls: 3, leadIn: 1)
            started = [peer.pid] + ProcessTable.descendants(of: peer.pid)
            return [first, try peer.block(calls: 2, leadIn: 0)]
        }
        #expect(blocks.map(\.count) == [3, 2])
        #expect(blocks.joined().allSatisfy { $0 > 0 && $0 < 60 })
        #expect(started.count > 1, "the script and its workers: \(started)")
        // The script shuts its executor down (joining the workers) before it exits, and exits before `with` returns.
        let alive = started.filter(ProcessTable.isAlive)
        #expect(alive.isEmpty, "left running: \(alive)")
    }
}
