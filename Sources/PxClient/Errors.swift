import PxPlatform

// MARK: - A task's failure

/// Why a task ended without a value, carried as data: a Python exception, or one of pxsh's own
/// failures (``Kind/engineError``, ``Kind/taskAborted``, ``Kind/disconnected``).
public struct RemoteError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What ended the task.
    public enum Kind: Equatable, Sendable {
        /// Python raised an exception of this class, e.g. "ZeroDivisionError".
        case exception(String)
        /// pxsh's EngineError: the task's engine died, was restarted or removed, was not there, or
        /// its runtime failed, so the task never ran or was cut off.
        case engineError
        /// pxsh's TaskAborted: a load-balanced task taken back (`%abort`, Ctrl-C) before it started.
        case taskAborted
        /// The connection to the controller closed before the task's reply came.
        case disconnected

        /// The name shown before the message: the exception's class, or pxsh's name for the failure.
        public var name: String {
            switch self {
            case .exception(let name): name
            case .engineError: "EngineError"
            case .taskAborted: "TaskAborted"
            case .disconnected: "Disconnected"
            }
        }
    }

    /// The engine that raised it (``EngineNumber/home`` for the local namespace).
    public var engine: Int32
    /// What ended the task.
    public var kind: Kind
    /// The exception's message (`str(exception)`), or why pxsh ended the task.
    public var value: String
    /// The remote traceback, showing the user's frames only; empty for pxsh's own failures.
    public var traceback: String
    /// The operation, as in `[2:execute]`.
    public var operation: String

    public init(engine: Int32, kind: Kind, value: String, traceback: String = "", operation: String) {
        self.engine = engine
        self.kind = kind
        self.value = value
        self.traceback = traceback
        self.operation = operation
    }

    /// A Python exception of class `name`.
    public init(engine: Int32, name: String, value: String, traceback: String, operation: String) {
        self.init(engine: engine, kind: .exception(name), value: value, traceback: traceback, operation: operation)
    }

    /// The exception's class name, or pxsh's name for the failure ("EngineError").
    public var name: String { kind.name }

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

// MARK: - The cluster's own failures

/// Failures of the cluster itself, rather than of Python code. Each says what was being done.
public enum ClusterError: Error, CustomStringConvertible, Equatable {
    /// The controller closed the connection or could not be reached; why.
    case disconnected(String)
    /// The cluster did not start; why (often the last lines of the controller's or an engine's log).
    case startFailed(String)
    /// The cluster did not stop; why.
    case stopFailed(String)
    /// The controller refused the handshake; its reason.
    case refused(String)
    /// The controller did not answer the handshake within so many seconds (it is stopped, or stuck).
    case notAnswering(seconds: Double)
    /// No cluster of that name runs.
    case noSuchCluster(String)
    /// The user pressed Ctrl-C while waiting.
    case interrupted
    /// A request that makes no sense (bad targets, unknown result name, ...).
    case invalidRequest(String)
    /// A system call failed (its name, path and errno are in the ``SystemError``) while doing what
    /// the second value says, e.g. "starting a cluster in /run/user/1000/pxsh/private-12-3".
    case system(SystemError, while: String)

    public var description: String {
        switch self {
        case .disconnected(let why): "lost the connection to the controller: \(why)"
        case .startFailed(let why): "the cluster did not start: \(why)"
        case .stopFailed(let why): "the cluster did not stop: \(why)"
        case .refused(let why): "the controller refused the connection: \(why)"
        case .notAnswering(let seconds):
            "the controller did not answer within \(Int(seconds)) s (is it stopped, or stuck?)"
        case .noSuchCluster(let name): "no cluster named '\(name)' is running (see `pxsh cluster list`)"
        case .interrupted: "interrupted"
        case .invalidRequest(let why): why
        case .system(let error, let doing): "\(doing): \(error)"
        }
    }

    /// Runs `body`, turning a ``SystemError`` it throws into ``system(_:while:)`` with `doing`.
    static func withContext<T>(_ doing: @autoclosure () -> String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as SystemError {
            throw ClusterError.system(error, while: doing())
        }
    }
}
