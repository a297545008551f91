import PxModel

// MARK: - The event frame

extension ClusterEvent {
    private enum Code: UInt8 {
        case engineDied = 1
        case engineStarted
        case taskRetried
        case notice
        case engineRemoved
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
        case .engineRemoved(let engine):
            Frame(kind: .event, op: Code.engineRemoved.rawValue, engine: engine)
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
            guard let line = frame.segments.first?.text, let row = EngineStatus(line: line) else { return nil }
            self = .engineStarted(row)
        case .taskRetried:
            self = .taskRetried(task: frame.id, engine: frame.engine)
        case .notice:
            guard let text = frame.segments.first?.text else { return nil }
            self = .notice(text)
        case .engineRemoved:
            self = .engineRemoved(engine: frame.engine)
        }
    }
}
