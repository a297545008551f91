import PxModel

// MARK: - The form an engine's status travels in

extension EngineStatus {
    /// Space-separated fields, the form it travels in.
    public var line: String {
        "\(id) \(rank) \(pid) \(state.rawValue) \(since) \(queued) \(residentBytes) \(host)"
    }

    public init?(line: String) {
        let fields = line.split(separator: " ").map(String.init)
        guard fields.count == 7 || fields.count == 8, let id = Int32(fields[0]), let rank = Int(fields[1]),
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
            host: fields.count == 8 ? fields[7] : "local"
        )
    }
}
