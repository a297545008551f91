/// Reads the lines that the peers' script prints (see `Peers/peer_bench.py`).
///
/// A pure value: it is fed lines and collects measurements, omissions and facts, so that the protocol is
/// testable without starting Python.
public struct PeerOutputParser: Sendable {
    public let system: BenchSystem
    public private(set) var measurements: [Measurement] = []
    public private(set) var omissions: [Omission] = []
    /// `info` lines, e.g. `version` → "9.2.0".
    public private(set) var facts: [String: String] = [:]
    /// Set when the script said that the system cannot run here.
    public private(set) var unavailableReason: String?
    /// The last lines that were not part of the protocol: what to show when the script fails.
    public private(set) var logTail: [String] = []

    static let logTailLength = 12

    public init(system: BenchSystem) { self.system = system }

    /// Takes one line of output.
    ///
    /// - Returns: the measurement the line completed, if any, so that progress can be shown as it comes.
    @discardableResult
    public mutating func consume(_ line: String) -> Measurement? {
        let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        switch (fields.first, fields.count) {
        case ("sample", 4):
            let values = fields[3].split(separator: " ").compactMap { Double($0) }
            guard let summary = Summary(values) else {
                omissions.append(
                    Omission(measureID: fields[1], system: system, reason: "no valid samples", isFailure: true)
                )
                return nil
            }
            let measurement = Measurement(measureID: fields[1], system: system, setting: fields[2], summary: summary)
            measurements.append(measurement)
            return measurement
        case ("skip", 3), ("fail", 3):
            omissions.append(
                Omission(measureID: fields[1], system: system, reason: fields[2], isFailure: fields[0] == "fail")
            )
        case ("info", 3):
            facts[fields[1]] = fields[2]
        case ("unavailable", 2):
            unavailableReason = fields[1]
        default:
            logTail.append(line)
            if logTail.count > PeerOutputParser.logTailLength { logTail.removeFirst() }
        }
        return nil
    }
}
