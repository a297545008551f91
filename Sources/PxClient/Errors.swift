/// An exception raised by Python on an engine, carried as data.
public struct RemoteError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The engine that raised it (``PxWire/EngineID/home`` for the local namespace).
    public var engine: Int32
    /// The exception's class name, e.g. "ZeroDivisionError".
    public var name: String
    /// The exception's message, `str(exception)`.
    public var value: String
    /// The remote traceback, showing the user's frames only.
    public var traceback: String
    /// The operation, as in `[2:execute]`.
    public var operation: String

    public init(engine: Int32, name: String, value: String, traceback: String, operation: String) {
        self.engine = engine
        self.name = name
        self.value = value
        self.traceback = traceback
        self.operation = operation
    }

    /// Whether the task never ran or was cut off because its engine died, was restarted or removed.
    public var isEngineError: Bool { name == "EngineError" }

    /// "ZeroDivisionError: division by zero"
    public var summary: String { value.isEmpty ? name : "\(name): \(value)" }

    public var description: String { "[\(engine):\(operation)] \(summary)" }
}

/// Several remote errors from one request, as ipyparallel's CompositeError.
public struct CompositeError: Error, Sendable, CustomStringConvertible {
    /// The errors, in task order.
    public var errors: [RemoteError]

    public init(_ errors: [RemoteError]) { self.errors = errors }

    public var description: String {
        "one or more exceptions raised in \(errors.count) task\(errors.count == 1 ? "" : "s"): "
            + errors.map(\.description).joined(separator: "; ")
    }
}

/// Failures of the cluster itself, rather than of Python code.
public enum ClusterError: Error, CustomStringConvertible, Equatable {
    /// The controller closed the connection or could not be reached.
    case disconnected(String)
    /// The cluster did not start.
    case startFailed(String)
    /// The controller refused the handshake.
    case refused(String)
    /// No cluster of that name runs.
    case noSuchCluster(String)
    /// A wait ran out of time.
    case timedOut
    /// The user pressed Ctrl-C while waiting.
    case interrupted
    /// A request that makes no sense (bad targets, unknown result name, ...).
    case invalidRequest(String)

    public var description: String {
        switch self {
        case .disconnected(let why): "lost the connection to the controller: \(why)"
        case .startFailed(let why): "the cluster did not start: \(why)"
        case .refused(let why): "the controller refused the connection: \(why)"
        case .noSuchCluster(let name): "no cluster named '\(name)' is running (see `pxsh cluster list`)"
        case .timedOut: "timed out"
        case .interrupted: "interrupted"
        case .invalidRequest(let why): why
        }
    }
}
