import PxPlatform

#if canImport(Glibc)
import Glibc
#endif

/// Runs the peers' script (`Peers/peer_bench.py`) for one peer and collects what it measured.
///
/// The script is written to the per-user runtime directory for the run, because `multiprocessing`'s spawn and
/// forkserver start methods re-import the main module from its file.
struct PeerSuite {
    let system: BenchSystem
    let plan: BenchPlan
    let python: String
    /// How long the script may print nothing before it is considered hung (ipyparallel's 8-engine cold start
    /// takes over ten seconds on a small machine).
    var idleSeconds = 300

    /// Runs the script; `progress` sees each measurement as it arrives.
    func run(progress: (Measurement) -> Void) throws -> SuiteOutcome {
        var parser = PeerOutputParser(system: system)
        let ending = try Self.withScript { script in
            try LineReadingProcess.run(
                python,
                arguments: ["-u", script, system.rawValue] + arguments,
                idleSeconds: idleSeconds
            ) { line in
                if let measurement = parser.consume(line) { progress(measurement) }
            }
        }

        var outcome = SuiteOutcome(
            measurements: parser.measurements,
            omissions: parser.omissions,
            version: parser.facts["version"],
            unavailableReason: parser.unavailableReason
        )
        let failure: String? =
            switch ending {
            case .exited(.exited(0)?): nil
            case .exited(let termination?): "the peer script ended with \(termination)"
            case .exited(nil): "the peer script vanished"
            case .idleTimeout: "the peer script printed nothing for \(idleSeconds) s and was stopped"
            }
        // Rows of pxsh's own features, which the peers' script does not attempt.
        let pxshOnly = [
            (
                MeasureCatalog.roundTripOverTCP(engines: MeasureCatalog.roundTripOverTCPEngines),
                "pxsh's engines over TCP only"
            ),
            (MeasureCatalog.coldStartMPI(engines: MeasureCatalog.coldStartMPIEngines), "pxsh's mpi launcher only"),
        ]
        for (measureID, reason) in pxshOnly where plan.includes(measureID) && outcome.unavailableReason == nil {
            outcome.omissions.append(Omission(measureID: measureID, system: system, reason: reason, isFailure: false))
        }
        if let failure, outcome.unavailableReason == nil {
            let why = ([failure] + parser.logTail.suffix(6)).joined(separator: "\n    ")
            let measured = Set(outcome.measurements.map(\.measureID) + outcome.omissions.map(\.measureID))
            for measure in MeasureCatalog.measures(for: plan) where !measured.contains(measure.id) {
                outcome.omissions.append(Omission(measureID: measure.id, system: system, reason: why, isFailure: true))
            }
        }
        return outcome
    }

    /// Runs `body` with the path of the script, written to the per-user runtime directory and removed after.
    static func withScript<Result>(_ body: (String) throws -> Result) throws -> Result {
        let script = try RuntimeDirectory.root() + "/bench-peer-\(getpid()).py"
        let file = try FileDescriptor.open(script, flags: O_WRONLY | O_CREAT | O_TRUNC)
        do {
            try file.writeAll(PackageResources.peer_bench_py)
            file.close()
        } catch {
            file.close()
            throw error
        }
        defer { unlink(script) }
        return try body(script)
    }

    /// The plan, as the script's options.
    var arguments: [String] {
        func list(_ values: [Int]) -> String { values.map(String.init).joined(separator: ",") }
        let chunkOneTasks = system == .ipyparallel ? plan.chunkOneTasksForIpyparallel : plan.chunkOneTasks
        return [
            "--cold-start-engines", list(plan.coldStartEngineCounts),
            "--cold-start-runs", String(plan.coldStartRuns),
            "--round-trip-engines", list(plan.roundTripEngineCounts),
            "--round-trip-calls", String(plan.roundTripCalls),
            "--round-trip-warmup", String(plan.roundTripWarmupCalls),
            "--engines", String(plan.engines),
            "--chunk-one-tasks", String(chunkOneTasks),
            "--chunk-one-tasks-ipyparallel", String(plan.chunkOneTasksForIpyparallel),
            "--call-count", String(plan.callCount),
            "--auto-items", String(plan.autoChunkItems),
            "--map-runs", String(plan.mapRuns),
            "--transfer-sizes", list(plan.transferSizes),
            "--transfer-runs", String(plan.transferRuns),
            "--scatter-items", String(plan.scatterItems),
            "--scatter-runs", String(plan.scatterRuns),
            "--only", plan.selection.joined(separator: ","),
        ]
    }
}
