/// How a task ended: the first segment of a reply after its ``TaskTiming``. What follows depends on it.
public enum ReplyStatus: String, Sendable, CaseIterable {
    /// It ran and returned; the op's values follow.
    case ok
    /// Python raised; the exception's class name, its message and the traceback follow (and, for a
    /// map chunk, the index of the failing item).
    case error
    /// pxsh's EngineError: the task's engine died, was restarted or removed, was not there, or its
    /// runtime failed, so the task never ran or was cut off. The reason follows.
    case engineError = "engine-error"
    /// pxsh's TaskAborted: a load-balanced task taken back before it started. The reason follows.
    case aborted

    /// The status segment.
    public var segment: Bytes { Bytes(text: rawValue) }
}

/// Why a task has no value, as its reply says.
public enum TaskFailureReply: Equatable, Sendable {
    /// A Python exception, e.g. a `KeyboardInterrupt` for a task interrupted before it started.
    case exception(name: String, message: String, traceback: String)
    /// pxsh's EngineError (see ``ReplyStatus/engineError``).
    case engineError(String)
    /// pxsh's TaskAborted (see ``ReplyStatus/aborted``).
    case aborted(String)

    /// The reply's segments after the timing.
    public var segments: [Bytes] {
        switch self {
        case .exception(let name, let message, let traceback):
            [ReplyStatus.error.segment, Bytes(text: name), Bytes(text: message), Bytes(text: traceback)]
        case .engineError(let reason):
            [ReplyStatus.engineError.segment, Bytes(text: reason)]
        case .aborted(let reason):
            [ReplyStatus.aborted.segment, Bytes(text: reason)]
        }
    }
}

extension Frame {
    /// The reply to a task that ended without a value: the one place failed replies are built.
    ///
    /// - Parameters:
    ///   - op: the task's ``EngineOp`` raw value.
    ///   - engine: the engine it was for, or ``EngineNumber/none``.
    ///   - timing: when it ran; zeros for a task that never started.
    public static func failedReply(
        op: UInt8,
        engine: Int32,
        task: UInt64,
        timing: TaskTiming = TaskTiming(started: 0, completed: 0),
        _ failure: TaskFailureReply
    ) -> Frame {
        Frame(
            kind: .reply,
            op: op,
            flags: .failed,
            engine: engine,
            id: task,
            segments: [timing.segment] + failure.segments
        )
    }
}
