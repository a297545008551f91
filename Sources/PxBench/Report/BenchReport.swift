/// Everything one run of `pxsh bench` found: the figures of every system, and the conditions they were
/// measured in. ``json`` and ``text`` render it; neither does any I/O.
public struct BenchReport: Sendable {
    /// The Python a set of processes ran.
    public struct PythonInfo: Equatable, Sendable {
        public var executable: String
        public var version: String

        public init(executable: String, version: String) {
            self.executable = executable
            self.version = version
        }
    }

    /// ISO 8601, UTC.
    public var date: String
    public var machine: MachineInfo
    /// The python the engines ran.
    public var python: PythonInfo
    /// The python the peers' script ran; nil without `--compare`.
    public var peerPython: String?
    public var plan: BenchPlan
    public var isQuick: Bool
    /// The rows, in order.
    public var measures: [Measure]
    /// What each system produced; a system missing here was not asked to run.
    public var outcomes: [BenchSystem: SuiteOutcome]
    /// How long the whole run took, in seconds.
    public var elapsedSeconds: Double

    public init(
        date: String,
        machine: MachineInfo,
        python: PythonInfo,
        peerPython: String?,
        plan: BenchPlan,
        isQuick: Bool,
        outcomes: [BenchSystem: SuiteOutcome],
        elapsedSeconds: Double
    ) {
        self.date = date
        self.machine = machine
        self.python = python
        self.peerPython = peerPython
        self.plan = plan
        self.isQuick = isQuick
        self.measures = MeasureCatalog.measures(for: plan)
        self.outcomes = outcomes
        self.elapsedSeconds = elapsedSeconds
    }

    // MARK: - Lookup

    /// The systems that were asked to run, in column order.
    public var systems: [BenchSystem] { BenchSystem.allCases.filter { outcomes[$0] != nil } }

    public func measurement(_ measureID: String, _ system: BenchSystem) -> Measurement? {
        outcomes[system]?.measurements.first { $0.measureID == measureID }
    }

    public func omission(_ measureID: String, _ system: BenchSystem) -> Omission? {
        outcomes[system]?.omissions.first { $0.measureID == measureID }
    }

    /// How many times better pxsh's median is than `peer`'s on `measure`; nil if either is missing.
    public func advantage(_ measure: Measure, over peer: BenchSystem) -> Double? {
        guard let pxsh = measurement(measure.id, .pxsh), let other = measurement(measure.id, peer) else { return nil }
        return measure.advantage(pxsh: pxsh.summary.median, peer: other.summary.median)
    }

    /// The figure pxsh should reach on `measure`: its fixed target, or its relative one resolved against the
    /// peer's median in this run (nil while that peer did not measure it).
    public func target(of measure: Measure) -> Double? {
        if let target = measure.target { return target }
        guard let relative = measure.relativeTarget,
            let peer = measurement(relative.measureID, relative.system)
        else { return nil }
        return peer.summary.median * relative.factor
    }

    /// Whether pxsh's median reaches ``target(of:)``; nil without a target or a pxsh figure.
    public func meetsTarget(_ measure: Measure) -> Bool? {
        guard let median = measurement(measure.id, .pxsh)?.summary.median else { return nil }
        return measure.meets(median, target(of: measure))
    }

    /// Whether any measurement failed (as opposed to a peer lacking an operation or not being installed).
    public var hasFailures: Bool {
        outcomes.values.contains { $0.omissions.contains(where: \.isFailure) }
    }
}
