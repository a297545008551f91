import PxModel

// MARK: - The form an engine's status travels in

extension EngineStatus {
    /// Space-separated fields, the form it travels in; a ninth, `fixed`, for an engine that cannot
    /// be restarted.
    public var line: String {
        "\(id) \(rank) \(pid) \(state.rawValue) \(since) \(queued) \(residentBytes) \(host)"
            + (canRestart ? "" : " fixed")
    }

    public init?(line: String) {
        let fields = line.split(separator: " ").map(String.init)
        guard (7...8).contains(fields.count) || (fields.count == 9 && fields[8] == "fixed"), let id = Int32(fields[0]),
            let rank = Int(fields[1]),
            let pid = Int32(fields[2]),
            let state = State(rawValue: fields[3]), let since = UInt64(fields[4]), let queued = Int(fields[5]),
            let rss = Int64(fields[6])
        else { return nil }
        self.init(
            id: id,
            rank: rank,
            pid: pid,
            state: state,
            since: since,
            queued: queued,
            residentBytes: rss,
            host: fields.count >= 8 ? fields[7] : "local",
            canRestart: fields.count < 9
        )
    }
}
