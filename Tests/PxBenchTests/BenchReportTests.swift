import Foundation
import Testing

@testable import PxBench

/// The report's JSON and text, built from made-up outcomes: no processes are started.
@Suite struct BenchReportTests {
    static let plan = BenchPlan.quick

    /// pxsh measured every row; ipyparallel some (one failed); multiprocessing was not importable.
    static func report() -> BenchReport {
        let measures = MeasureCatalog.measures(for: plan)
        var pxsh = SuiteOutcome()
        for (index, measure) in measures.enumerated() {
            pxsh.measurements.append(
                Measurement(
                    measureID: measure.id,
                    system: .pxsh,
                    setting: "pxsh way",
                    summary: Summary([1, 2, 3].map { Double(index + 1) * $0 })!
                )
            )
        }
        var ipyparallel = SuiteOutcome(version: "9.2.0")
        ipyparallel.measurements.append(
            Measurement(
                measureID: MeasureCatalog.coldStart(engines: 4),
                system: .ipyparallel,
                setting: "ipp way",
                summary: Summary([6.0, 7.0, 8.0])!
            )
        )
        ipyparallel.omissions.append(
            Omission(measureID: MeasureCatalog.mapAuto, system: .ipyparallel, reason: "boom", isFailure: true)
        )
        let multiprocessing = SuiteOutcome(unavailableReason: "no \"multiprocessing\"\there")
        return BenchReport(
            date: "2025-01-01T00:00:00Z",
            machine: MachineInfo(
                cpuModel: "Test CPU",
                cpuCount: 2,
                memoryBytes: 8_000_000_000,
                kernel: "Linux 6",
                hostname: "h"
            ),
            python: .init(executable: "/usr/bin/python3", version: "3.11.7"),
            peerPython: "/venv/bin/python",
            plan: plan,
            isQuick: true,
            outcomes: [.pxsh: pxsh, .ipyparallel: ipyparallel, .multiprocessing: multiprocessing],
            elapsedSeconds: 12.5
        )
    }

    @Test func jsonIsWellFormedAndHasEveryKey() throws {
        let report = Self.report()
        let root = try #require(try parse(report.json.text) as? [String: Any])
        #expect(
            Set(root.keys)
                == [
                    "schema", "date", "quick", "elapsed_s", "machine", "python", "peer_python", "systems", "plan",
                    "measures",
                ]
        )
        #expect(root["schema"] as? String == BenchReport.schema)
        let systems = try #require(root["systems"] as? [String: [String: Any]])
        #expect(Set(systems.keys) == Set(BenchSystem.allCases.map(\.rawValue)))
        for system in systems.values { #expect(Set(system.keys) == ["ran", "version", "note"]) }

        let measures = try #require(root["measures"] as? [String: [String: Any]])
        #expect(Set(measures.keys) == Set(MeasureCatalog.measures(for: Self.plan).map(\.id)))
        for (id, measure) in measures {
            #expect(
                Set(measure.keys)
                    == Set(
                        ["title", "unit", "better", "target", "meets_target", "pxsh_advantage"]
                            + BenchSystem.allCases.map(\.rawValue)
                    ),
                "\(id)"
            )
            for system in BenchSystem.allCases {
                let cell = try #require(measure[system.rawValue] as? [String: Any])
                #expect(Set(cell.keys) == ["median", "p90", "min", "max", "mean", "runs", "setting", "note"], "\(id)")
            }
            let pxsh = try #require(measure["pxsh"] as? [String: Any])
            #expect(pxsh["median"] is Double)
        }
    }

    @Test func jsonCarriesTheStatisticsAndTheRatios() throws {
        let root = try #require(try parse(Self.report().json.text) as? [String: Any])
        let measures = try #require(root["measures"] as? [String: [String: Any]])
        let coldStart = try #require(measures[MeasureCatalog.coldStart(engines: 4)])
        let pxsh = try #require(coldStart["pxsh"] as? [String: Any])
        // cold_start.n4 is the second row: samples 2, 4, 6.
        #expect(pxsh["median"] as? Double == 4)
        #expect(pxsh["min"] as? Double == 2)
        #expect(pxsh["max"] as? Double == 6)
        #expect(pxsh["runs"] as? Int == 3)
        #expect(coldStart["target"] as? Double == 0.04)
        #expect(coldStart["meets_target"] as? Bool == false)
        let advantage = try #require(coldStart["pxsh_advantage"] as? [String: Any])
        #expect(advantage["ipyparallel"] as? Double == 7.0 / 4.0)
        #expect(advantage["multiprocessing"] is NSNullLike)

        let failed = try #require(measures[MeasureCatalog.mapAuto]?["ipyparallel"] as? [String: Any])
        #expect(failed["note"] as? String == "failed: boom")
        #expect(failed["median"] is NSNullLike)
    }

    @Test func textShowsEveryRowTargetsAndFailures() {
        let text = Self.report().text
        for measure in MeasureCatalog.measures(for: Self.plan) { #expect(text.contains(measure.title)) }
        #expect(text.contains("≤ 40.0 ms ✗"))
        // A target relative to a peer that did not run names the peer.
        #expect(text.contains("≤ 0.5× concurrent.futures"))
        #expect(text.contains("ipyparallel: 9.2.0"))
        #expect(text.contains("multiprocessing: not measured"))
        #expect(text.contains("Failed:\n  ipyparallel map.auto: boom"))
        #expect(text.hasSuffix("\n"))
        #expect(Self.report().hasFailures)
    }

    @Test func advantageIsHowManyTimesBetterPxshIs() {
        let time = Measure(id: "t", title: "t", unit: .seconds)
        let rate = Measure(id: "r", title: "r", unit: .tasksPerSecond, target: 10)
        #expect(time.advantage(pxsh: 2, peer: 8) == 4)
        #expect(rate.advantage(pxsh: 8, peer: 2) == 4)
        #expect(rate.advantage(pxsh: 0, peer: 2) == nil)
        #expect(rate.meetsTarget(10) == true)
        #expect(rate.meetsTarget(9) == false)
        #expect(time.meetsTarget(1) == nil)
    }

    @Test func selectionTakesIdentifiersAndPrefixes() {
        var plan = BenchPlan.quick
        #expect(MeasureCatalog.measures(for: plan).count == 32)
        plan.selection = ["px_pass", "map.auto", "rss"]
        #expect(
            MeasureCatalog.measures(for: plan).map(\.id) == [
                "px_pass.n1", "px_pass.n2", "px_pass.n4", "px_pass_tcp.n4", "map.auto", "rss.engine",
            ]
        )
        // Prefixes end at a '.' or '_' of the identifier: "cold" selects cold_start.* and
        // cold_start_mpi.n4, "pass" nothing.
        plan.selection = ["cold"]
        #expect(MeasureCatalog.measures(for: plan).count == 4)
        plan.selection = ["pass"]
        #expect(MeasureCatalog.measures(for: plan).isEmpty)
    }

    @Test func relativeTargetsResolveAgainstThePeerOfTheSameRun() throws {
        var report = Self.report()
        var futures = SuiteOutcome(version: "Python 3.11.7")
        futures.measurements.append(
            Measurement(
                measureID: MeasureCatalog.call,
                system: .concurrentFutures,
                setting: "submit",
                summary: Summary([30.0])!
            )
        )
        report.outcomes[.concurrentFutures] = futures
        let call = try #require(report.measures.first { $0.id == MeasureCatalog.call })
        #expect(report.target(of: call) == 15)
        // pxsh's made-up median for the call row is 10 s.
        #expect(report.meetsTarget(call) == true)
        #expect(report.text.contains("≤ 15.0 s (0.5× concurrent.futures) ✓"))
        let commandLine = try #require(report.measures.first { $0.id == MeasureCatalog.commandLine })
        #expect(report.target(of: commandLine) == nil)
        #expect(report.meetsTarget(commandLine) == nil)
    }

    @Test func aRatioTakenSideBySideIsJudgedAndShownAsARatio() throws {
        var report = Self.report()
        let ratios = Summary([1.12, 1.31, 1.58])!
        report.outcomes[.pxsh]?.measurements.removeAll { $0.measureID == MeasureCatalog.pythonExecuteRatio }
        report.outcomes[.pxsh]?.measurements.append(
            Measurement(measureID: MeasureCatalog.pythonExecuteRatio, system: .pxsh, setting: "pairs", summary: ratios)
        )
        let row = try #require(report.text.split(separator: "\n").first { $0.contains("Python execute ÷ %px pass") })
        let cells = row.split(separator: "  ").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        #expect(
            cells.prefix(4) == [
                "Python execute ÷ %px pass, 4 engines, side by side", "1.31×", "(1.12–1.58)", "≤ 1.2× ✗",
            ]
        )
        let root = try #require(try parse(report.json.text) as? [String: Any])
        let measures = try #require(root["measures"] as? [String: [String: Any]])
        let ratio = try #require(measures[MeasureCatalog.pythonExecuteRatio])
        #expect(ratio["unit"] as? String == "ratio")
        #expect(ratio["better"] as? String == "lower")
        #expect(ratio["target"] as? Double == 1.2)
        #expect(ratio["meets_target"] as? Bool == false)
        let pxsh = try #require(ratio["pxsh"] as? [String: Any])
        #expect(pxsh["median"] as? Double == 1.31)
        #expect(pxsh["runs"] as? Int == 3)
        // The execute row itself has no target any more.
        let execute = try #require(measures[MeasureCatalog.pythonExecute])
        #expect(execute["target"] is NSNullLike)
        #expect(execute["meets_target"] is NSNullLike)
    }

    @Test func blocksSplitTheCallsIntoThePlansPairs() {
        #expect(BenchPlan.quick.blockSize(splitting: BenchPlan.quick.roundTripCalls) == 30)
        #expect(BenchPlan.full.blockSize(splitting: BenchPlan.full.roundTripCalls) == 100)
        #expect(BenchPlan.quick.blockSize(splitting: 3) == 1)
    }

    @Test func catalogHasIssueFivesTargets() {
        let targets = Dictionary(
            uniqueKeysWithValues: MeasureCatalog.measures(for: .full).compactMap { m in m.target.map { (m.id, $0) } }
        )
        #expect(targets["cold_start.n4"] == 0.04)
        #expect(targets["px_pass.n4"] == 100e-6)
        #expect(targets["local_line"] == 100e-6)
        let relative = MeasureCatalog.measures(for: .full).filter { $0.relativeTarget != nil }
        #expect(relative.map(\.id) == ["cli.n4", "call"])
        // Issue 11's ratios are judged as ratios taken side by side, not from the two rows' medians.
        #expect(targets["py_call"] == 150e-6)
        #expect(targets["py_call_ratio"] == 0.5)
        #expect(targets["py_execute_ratio.n4"] == 1.2)
        #expect(targets["py_execute.n4"] == nil)
        #expect(targets["map.chunk1"] == 50_000)
        #expect(targets["push.100MB"] == 2)
        #expect(targets["pull.100MB"] == 2)
        #expect(targets["rss.engine"] == 25e6)
    }
}

/// What Foundation's parser gives for a JSON null.
typealias NSNullLike = Foundation.NSNull

/// Parses with Foundation's parser, which the benchmark itself does without: an independent check.
func parse(_ text: String) throws -> Any {
    try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
}
