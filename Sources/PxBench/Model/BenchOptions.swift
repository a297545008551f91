/// What to measure, and with which pythons.
public struct BenchOptions: Sendable {
    public var plan: BenchPlan
    public var isQuick: Bool
    /// The python the engines run (`--python`).
    public var python: String
    /// Whether to run the peers too (`--compare`).
    public var compare: Bool
    /// The python that runs the peers' script; nil: the engines' python.
    public var peerPython: String?

    public init(plan: BenchPlan, isQuick: Bool, python: String, compare: Bool, peerPython: String?) {
        self.plan = plan
        self.isQuick = isQuick
        self.python = python
        self.compare = compare
        self.peerPython = peerPython
    }
}
