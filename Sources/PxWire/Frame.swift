@_exported import PxModel

/// The bytes of one payload segment. Python values travel as opaque pickles that Swift never decodes.
public typealias Bytes = [UInt8]

/// One message on a pxsh socket: a small fixed header and opaque payload segments.
///
/// On the wire a frame is `u32 length` (of everything after it) followed by the header
/// (`u8 kind, u8 op, u16 flags, i32 engine, u64 id, u32 segment count`) and, for each segment,
/// `u32 length` and its bytes. All integers are little-endian.
public struct Frame: Equatable, Sendable {
    public var kind: MessageKind
    /// The operation within `kind`: an ``EngineOp`` for tasks, a ``ControlOp`` for control requests.
    public var op: UInt8
    public var flags: FrameFlags
    /// The engine the frame is for or from; ``EngineID/none`` when it concerns no engine.
    public var engine: Int32
    /// A task id, or a client's request id for control messages.
    public var id: UInt64
    public var segments: [Bytes]

    public init(
        kind: MessageKind,
        op: UInt8 = 0,
        flags: FrameFlags = [],
        engine: Int32 = -2,
        id: UInt64 = 0,
        segments: [Bytes] = []
    ) {
        self.kind = kind
        self.op = op
        self.flags = flags
        self.engine = engine
        self.id = id
        self.segments = segments
    }

    /// The number of bytes this frame takes on the wire.
    public var encodedSize: Int {
        segments.reduce(Frame.headerSize) { $0 + 4 + $1.count }
    }

    /// Bytes before the segments: the length prefix and the header.
    public static let headerSize = 24
}

/// Bits of a frame header's `flags`.
public struct FrameFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// A reply whose task ended without a value: its ``ReplyStatus`` says why.
    public static let failed = FrameFlags(rawValue: 1 << 0)
    /// A submission whose tasks go to whichever engine is free (load-balanced).
    public static let balanced = FrameFlags(rawValue: 1 << 2)
    /// An engine-death event whose engine is being restarted.
    public static let restarting = FrameFlags(rawValue: 1 << 3)
    /// A reply sent while some of the task's output was still in the engine's pipes: the controller
    /// reads it all before the reply, then answers `outputRead`, and only then does the engine go on.
    public static let outputPending = FrameFlags(rawValue: 1 << 4)
    /// A load-balanced `apply` submission whose tasks hold `[function text, argument text]`: the
    /// controller has the home engine pack each call (``EngineOp/packCall``) and sends the packed
    /// call on to a free engine itself, so the client is not on the way between the two.
    public static let packedAtHome = FrameFlags(rawValue: 1 << 5)
    /// On a ``packedAtHome`` submission of one call, whose one shared segment names local
    /// variables (comma-separated): once the call has a value, the controller has the home engine
    /// store it in them (``EngineOp/collect``) before anything the client sends after the reply.
    /// On a reply: the outcome of that store, with the call's task id.
    public static let storedAtHome = FrameFlags(rawValue: 1 << 6)
    /// On a direct submission, or a load-balanced one of one task (a call): once all of its tasks have
    /// replied, send the client the whole answer (`accepted`, the tasks' output and replies) as one
    /// ``MessageKind/answer`` frame. A client that pays per frame (the Python one) then handles one frame
    /// per request.
    public static let oneAnswer = FrameFlags(rawValue: 1 << 7)
}

/// What a frame is.
public enum MessageKind: UInt8, Sendable, CaseIterable {
    /// Handshake: the first frame of every connection, naming the peer's role. See ``Hello``.
    case hello = 1
    /// The controller's answer to an acceptable `hello`.
    case welcome = 2
    /// The controller's answer to a `hello` it refuses; the connection closes after it.
    case refused = 3
    /// Remote engine to controller, after its `welcome` (which gave it an id, rank and size): Python
    /// is up and it takes tasks.
    case ready = 4
    /// TCP only, before anything else: the engine's nonce. See `PxSecurity.KeyExchange`.
    case authHello = 5
    /// TCP only: the controller's nonce and its proof of the cluster key.
    case authChallenge = 6
    /// TCP only: the engine's proof of the cluster key.
    case authProof = 7
    /// TCP only: the controller accepted the proof; every later frame is sealed (MAC and sequence number).
    case authAccepted = 8

    /// Client to controller: run an ``EngineOp`` on targets, or load-balanced. See ``Submission``.
    case submit = 10
    /// Controller to client: the task ids given to a submission (`segments[0]`: first id and count).
    case accepted = 11
    /// Controller to engine: run one task.
    case task = 12
    /// Engine to controller to client: a task's outcome. `segments[0]` is its ``TaskTiming``.
    case reply = 13
    /// Engine to controller to client: output of a task; `op` is the ``OutputStream``.
    case stream = 14
    /// Controller to engine: interrupt task `id`. It comes with a SIGINT, which stops the task if it
    /// runs; this frame stops it if it has not started yet (a signal then would be lost).
    case interrupt = 15
    /// Controller to engine: the output of the task just replied to (flag ``FrameFlags/outputPending``)
    /// has been read, so the next task's output cannot be taken for it.
    case outputRead = 16
    /// Controller to engine: finish Python as its own exit would (atexit handlers, buffered files
    /// flushed) and exit. An engine that does not exit within a grace period is killed.
    /// `segments[0]` is ``ShutdownScope/alone`` when only this engine goes (`%remove`).
    /// Engine to controller, answering one that is alone: the engine is a rank of an MPI job and
    /// waits in MPI_Finalize for the job's other ranks; keep its connection open until they end.
    case shutdown = 17
    /// Both ways between the controller and a remote engine, once a second: "I am alive".
    case heartbeat = 18
    /// Remote engine to controller: a signal at its host (SIGTERM, SIGHUP, Ctrl-C while idle) ends
    /// it, as a `shutdown` would, or it crashed; `segments[0]` says so ("it left on SIGTERM", "it
    /// died: signal 6 (SIGABRT)"), for the clients.
    case leaving = 19

    /// Client to controller: a ``ControlOp`` request; answered by `controlReply` with the same id.
    case control = 20
    case controlReply = 21
    /// Controller to client: something happened that nobody asked about. See ``ClusterEvent``.
    case event = 22
    /// Controller to client: the whole answer to a submission flagged ``FrameFlags/oneAnswer``,
    /// `id` its request id. See ``Answer``.
    case answer = 23
}
