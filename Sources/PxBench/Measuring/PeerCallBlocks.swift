import PxPlatform

#if canImport(Glibc)
import Glibc
#endif

/// An executor peer's one call (`executor.submit(abs, 1).result()`), timed in blocks on request by the peers'
/// script (`--serve-call-blocks`), so that its blocks can run between pxsh's own (``InterleavedBlocks``).
///
/// The script starts and warms up its executor once and keeps it, warm, from block to block; between blocks
/// it waits on its standard input, using no CPU.
final class PeerCallBlocks {
    let system: BenchSystem
    private let process: LineReadingProcess
    private var parser: PeerOutputParser
    /// The script's process.
    var pid: pid_t { process.pid }
    /// How long the script may take to answer a block, the start of its executor included.
    static let idleSeconds = 120

    private init(system: BenchSystem, process: LineReadingProcess) {
        self.system = system
        self.process = process
        parser = PeerOutputParser(system: system)
    }

    /// Runs `body` with `system`'s script serving blocks (run by `python`, with `plan`'s engines and warm-up),
    /// and stops the script afterwards, whatever happens.
    static func with<Result>(
        _ system: BenchSystem,
        plan: BenchPlan,
        python: String,
        _ body: (PeerCallBlocks) throws -> Result
    ) throws -> Result {
        try PeerSuite.withScript { script in
            let arguments = PeerSuite(system: system, plan: plan, python: python).arguments
            let process = try LineReadingProcess(
                python,
                arguments: ["-u", script, system.rawValue, "--serve-call-blocks"] + arguments
            )
            defer { process.stop() }
            return try body(PeerCallBlocks(system: system, process: process))
        }
    }

    /// The seconds of each of `calls` calls, after `leadIn` untimed ones.
    ///
    /// - Throws: ``BenchError`` when the script fails, says it cannot run, or ends.
    func block(calls: Int, leadIn: Int) throws -> [Double] {
        try process.send("calls \(calls) \(leadIn)")
        while let line = try process.nextLine(idleSeconds: Self.idleSeconds) {
            if let measurement = parser.consume(line) { return measurement.summary.sortedSamples }
            if let reason = parser.unavailableReason {
                throw BenchError.unavailable("\(system.displayName): \(reason)")
            }
            if let failure = parser.omissions.last { throw BenchError.wrongResult(failure.reason) }
        }
        let why = process.ending == .idleTimeout ? "printed nothing for \(Self.idleSeconds) s" : "ended"
        throw BenchError.wrongResult(
            (["\(system.displayName)'s script \(why)"] + parser.logTail.suffix(6)).joined(separator: "\n    ")
        )
    }
}
