import PxWire

/// What running code on an engine gave back, besides its output.
public struct ExecuteReply: Equatable, Sendable {
    /// The engine's execution count for the cell (`Out[7]`).
    public var count: Int
    /// The repr of the value of the cell's last expression; nil when it has none (or it is `None`).
    public var resultRepr: String?

    /// Reads an `execute` reply: `ok`, the count, `1` or `0` for whether a value follows, its repr.
    init?(_ reply: [Bytes]) {
        guard reply.count >= 3, reply[0] == Bytes(text: "ok"), let count = Int(reply[1].text) else { return nil }
        self.count = count
        self.resultRepr = reply[2] == Bytes(text: "1") && reply.count >= 4 ? reply[3].text : nil
    }
}

/// Candidates for completing the text before the cursor, as Python's `rlcompleter` finds them.
public struct Completion: Equatable, Sendable {
    /// Where in the text the replaced word starts, in characters.
    public var start: Int
    /// The candidates, each replacing the text from ``start`` on.
    public var matches: [String]

    /// No candidates.
    public static let none = Completion(start: 0, matches: [])
}

/// Whether a cell of Python is ready to run, as Jupyter's `is_complete` says.
public struct Completeness: Equatable, Sendable {
    /// What the parser made of the cell.
    public enum Status: String, Sendable {
        /// It parses: run it.
        case complete
        /// It needs more lines (an open block or bracket).
        case incomplete
        /// It can never parse: run it, to show the syntax error.
        case invalid
    }

    /// What the parser made of the cell.
    public var status: Status
    /// The indent for a continuation line, when ``status`` is ``Status/incomplete``.
    public var indent: String

    public init(status: Status, indent: String = "") {
        self.status = status
        self.indent = indent
    }
}

/// What ``Cluster/abort(_:)`` did to a result's unfinished tasks.
public struct AbortOutcome: Equatable, Sendable {
    /// Tasks taken back before they started; they fail with ``TaskAborted``.
    public var aborted: Int
    /// Tasks that were already running (or queued on an engine directly) and go on.
    public var running: Int
}
