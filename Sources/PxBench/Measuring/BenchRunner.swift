import PxClient
import PxText

/// Runs the suite: pxsh first, then each peer, one at a time so that they never compete for the CPUs (the
/// ratios taken side by side run a peer's blocks between pxsh's, never at the same time).
public enum BenchRunner {
    /// Measures everything `options` asks for.
    ///
    /// - Parameter log: receives a progress line per measurement, as it completes.
    /// - Throws: ``PythonInstallation/Unusable`` when the engines' python cannot be embedded.
    public static func run(_ options: BenchOptions, log: @escaping (String) -> Void) throws -> BenchReport {
        let stopwatch = Stopwatch()
        let installation = try PythonInstallation.locate(options.python)
        let measures = MeasureCatalog.measures(for: options.plan)
        func show(_ measurement: Measurement) {
            guard let measure = measures.first(where: { $0.id == measurement.measureID }) else { return }
            let system = measurement.system.displayName.padding(to: 16)
            let median = NumberFormat.value(measurement.summary.median, unit: measure.unit)
            log("\(system) \(measure.title.padding(to: 34)) \(median)  (median of \(measurement.summary.count))")
        }

        var outcomes: [BenchSystem: SuiteOutcome] = [:]
        let peerPython = options.compare ? options.peerPython ?? installation.executable : nil
        outcomes[.pxsh] = PxshSuite(plan: options.plan, python: options.python, peerPython: peerPython, progress: show)
            .run()
        if let python = peerPython {
            for peer in BenchSystem.peers {
                let suite = PeerSuite(system: peer, plan: options.plan, python: python)
                do {
                    let outcome = try suite.run(progress: show)
                    if let reason = outcome.unavailableReason { log("\(peer.displayName): not measured: \(reason)") }
                    outcomes[peer] = outcome
                } catch {
                    outcomes[peer] = SuiteOutcome(unavailableReason: "cannot run \(python): \(error)")
                    log("\(peer.displayName): cannot run \(python): \(error)")
                }
            }
        }
        return BenchReport(
            date: WallClock.nowISO8601(),
            machine: .current,
            python: .init(executable: installation.executable, version: installation.version),
            peerPython: peerPython,
            plan: options.plan,
            isQuick: options.isQuick,
            outcomes: outcomes,
            elapsedSeconds: stopwatch.seconds
        )
    }
}

extension String {
    /// The string padded with spaces to `width` characters (never cut).
    func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
