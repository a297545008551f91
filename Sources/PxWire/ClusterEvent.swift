/// Things the controller tells clients without being asked, as `event` frames.
public enum ClusterEvent: Equatable, Sendable {
    /// An engine died; `cause` is like "signal 9" or "exit status 3". `isRestarting` says whether
    /// the controller is starting it again (tasks sent to it meanwhile wait for it).
    /// `host` names the host of a remote engine, which is reported "lost" rather than "died".
    case engineDied(engine: Int32, rank: Int, cause: String, isRestarting: Bool, host: String? = nil)
    /// An engine (re)started and is ready.
    case engineStarted(EngineRow)
    /// A load-balanced task was re-queued after its engine died.
    case taskRetried(task: UInt64, engine: Int32)
    /// Anything else worth a line to the user.
    case notice(String)

    enum Code: UInt8 {
        case engineDied = 1
        case engineStarted
        case taskRetried
        case notice
    }

    public var frame: Frame {
        switch self {
        case .engineDied(let engine, let rank, let cause, let isRestarting, let host):
            Frame(
                kind: .event,
                op: Code.engineDied.rawValue,
                flags: isRestarting ? .restarting : [],
                engine: engine,
                segments: [Bytes(text: String(rank)), Bytes(text: cause)] + (host.map { [Bytes(text: $0)] } ?? [])
            )
        case .engineStarted(let row):
            Frame(kind: .event, op: Code.engineStarted.rawValue, engine: row.id, segments: [Bytes(text: row.line)])
        case .taskRetried(let task, let engine):
            Frame(kind: .event, op: Code.taskRetried.rawValue, engine: engine, id: task)
        case .notice(let text):
            Frame(kind: .event, op: Code.notice.rawValue, segments: [Bytes(text: text)])
        }
    }

    public init?(_ frame: Frame) {
        guard frame.kind == .event, let code = Code(rawValue: frame.op) else { return nil }
        switch code {
        case .engineDied:
            guard frame.segments.count == 2 || frame.segments.count == 3, let rank = Int(frame.segments[0].text)
            else { return nil }
            self = .engineDied(
                engine: frame.engine,
                rank: rank,
                cause: frame.segments[1].text,
                isRestarting: frame.flags.contains(.restarting),
                host: frame.segments.count == 3 ? frame.segments[2].text : nil
            )
        case .engineStarted:
            guard let line = frame.segments.first?.text, let row = EngineRow(line: line) else { return nil }
            self = .engineStarted(row)
        case .taskRetried:
            self = .taskRetried(task: frame.id, engine: frame.engine)
        case .notice:
            guard let text = frame.segments.first?.text else { return nil }
            self = .notice(text)
        }
    }
}

/// One engine as the controller sees it: a line of `%engines`.
public struct EngineRow: Equatable, Sendable {
    public enum State: String, Sendable {
        case starting, idle, busy, dead
    }

    public var id: Int32
    public var rank: Int
    public var pid: Int32
    public var state: State
    /// When the engine entered its state, in real-time nanoseconds.
    public var since: UInt64
    /// Tasks sent to it and not finished, the running one included.
    public var queued: Int
    /// Resident memory in bytes; -1 when unknown.
    public var residentBytes: Int64
    /// Where it runs: "local" for the controller's own children, else the address it joined from.
    public var host: String

    public init(
        id: Int32,
        rank: Int,
        pid: Int32,
        state: State,
        since: UInt64,
        queued: Int,
        residentBytes: Int64,
        host: String = "local"
    ) {
        self.host = host
        self.id = id
        self.rank = rank
        self.pid = pid
        self.state = state
        self.since = since
        self.queued = queued
        self.residentBytes = residentBytes
    }

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
