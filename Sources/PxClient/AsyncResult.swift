import PxPlatform
import PxWire

/// The results of one request to the engines, arriving over time.
///
/// Every `%px`, `%map` and `%apply` makes one. It records each task's engine, output, timings and
/// outcome as the controller reports them; ``Cluster`` fills it in while it waits for frames, so
/// all of it can be inspected after the fact. Not thread-safe: use it on the cluster's thread.
public final class AsyncResult {
    /// What one task did.
    public struct Task: Sendable {
        /// The engine that ran (or runs) it; nil for a load-balanced task not yet placed.
        public var engine: Int32?
        /// What the task wrote to stdout, up to ``AsyncResult/outputLimit`` bytes.
        public var stdout: Bytes = []
        /// What the task wrote to stderr, up to ``AsyncResult/outputLimit`` bytes.
        public var stderr: Bytes = []
        /// True when some output was dropped because it exceeded ``AsyncResult/outputLimit``.
        public var isOutputTruncated = false
        /// Real-time nanoseconds as reported by the engine; nil until it replied.
        public var started: UInt64?
        /// Real-time nanoseconds when it finished, as reported by the engine; nil until it replied.
        public var completed: UInt64?
        /// A successful reply's segments after the timing, `"ok"` first. The typed accessors below
        /// read it; only the views decode the rest.
        package var reply: [Bytes]?
        /// Why it failed, once it has.
        var failure: Failure?
        /// Whether an engine has started it (output arrived, or the controller said so).
        public var isRunning = false
        /// A map chunk's items, by their index in the sequence.
        public internal(set) var items: ClosedRange<Int>?

        /// What an `execute` task gave back; nil until it replied, or when it failed.
        public var executeReply: ExecuteReply? { reply.flatMap(ExecuteReply.init) }

        /// The repr of the value an `apply` task returned; nil until it replied, or when it failed.
        public var returnValueRepr: String? {
            guard let reply, reply.count >= 2 else { return nil }
            return reply[1].text
        }

        /// Whether it ended, successfully or not.
        public var isDone: Bool { reply != nil || failure != nil }
        /// Whether it ended without a value.
        public var isFailed: Bool { failure != nil }
        /// Whether Ctrl-C stopped it before it started.
        public var wasCancelled: Bool {
            failure.map { $0.kind == .exception("KeyboardInterrupt") && $0.message == AsyncResult.cancelledMessage }
                ?? false
        }

        /// Why this task failed, if it did.
        ///
        /// A map task's error names the item that raised it (`map item 7`) when the engine says which,
        /// else the chunk's items (`map items 6-8`: its engine died, say).
        public func error(operation: String) -> RemoteError? {
            guard let failure else { return nil }
            var name = operation
            if operation == "map", let items = failure.item.map({ $0...$0 }) ?? items {
                name =
                    items.count == 1
                    ? "map item \(items.lowerBound)" : "map items \(items.lowerBound)-\(items.upperBound)"
            }
            return RemoteError(
                engine: engine ?? EngineNumber.none,
                kind: failure.kind,
                value: failure.message,
                traceback: failure.traceback,
                operation: name
            )
        }

        /// Why a task failed, as its reply (or the client, for a lost connection) said.
        struct Failure {
            var kind: RemoteError.Kind
            var message: String
            var traceback = ""
            /// The failing item of a map chunk, when the engine says which.
            var item: Int?

            /// Reads a failed reply's segments after the timing (see ``ReplyStatus``).
            init(reply: [Bytes]) {
                func text(_ index: Int) -> String { index < reply.count ? reply[index].text : "" }
                switch ReplyStatus(rawValue: text(0)) {
                case .error:
                    self.init(kind: .exception(text(1)), message: text(2), traceback: text(3), item: Int(text(4)))
                case .aborted:
                    self.init(kind: .taskAborted, message: text(1))
                case .engineError, .ok, nil:
                    self.init(kind: .engineError, message: text(1).isEmpty ? "a malformed reply" : text(1))
                }
            }

            init(kind: RemoteError.Kind, message: String, traceback: String = "", item: Int? = nil) {
                self.kind = kind
                self.message = message
                self.traceback = traceback
                self.item = item
            }
        }
    }

    /// Where a result stands, as `%jobs` shows it.
    public enum State: String, Sendable {
        case pending, running, done, failed
    }

    /// What kind of request made it.
    public enum Kind: Sendable {
        /// Code run on engines (`%px`) or locally.
        case execute
        /// A function called on engines (`%apply`, ``DirectView/apply(function:arguments:name:)``).
        case apply
        /// A load-balanced map (`%map`): one task per chunk of items.
        case map
        /// Data moved or inspected: push, pull, scatter, gather, who, completion.
        case other
    }

    /// What kind of request made it.
    public var kind: Kind {
        switch op {
        case .execute: .execute
        case .apply: .apply
        case .mapChunk: .map
        default: .other
        }
    }

    /// The number shown as `#7`; the session numbers the results the user sees.
    public var number: Int
    /// The `-o` name, if any.
    public var name: String?
    /// What made it, e.g. "%px" or "%map".
    public let label: String
    /// The operation, as shown in error prefixes (`[0:execute]`).
    public let operation: String
    package let op: EngineOp
    /// Whether its tasks go to whichever engine is free (`%map`, `%apply`).
    public let isBalanced: Bool
    /// One task per target engine, or per chunk of a map, in submission order.
    public internal(set) var tasks: [Task]
    /// The error value of a task that Ctrl-C stopped before it started.
    public static let cancelledMessage = "interrupted before it started"
    /// Real-time nanoseconds when it was submitted.
    public let submitted: UInt64
    /// Set once the controller has given the tasks their ids.
    public internal(set) var firstTaskID: UInt64?
    /// Output kept per task and stream; the rest is dropped with a notice.
    public static let outputLimit = 4 << 20
    /// Things that happened to it beyond its tasks' replies, e.g. "task 7 retried after engine 2 died".
    public internal(set) var notices: [String] = []
    /// Called when a task's output arrives (engine, stream, bytes), for live streaming.
    public var onOutput: ((Int32, OutputStream, Bytes) -> Void)?
    /// Called when a task completes.
    public var onTaskDone: ((Int) -> Void)?
    /// Arguments that refer to shared-memory files, removed once every task has read them.
    var sharedArguments: [Bytes] = []
    /// Whether the controller stores the value of this `apply` in local variables once it has it
    /// (``LoadBalancedView/apply(function:arguments:retries:name:storingValueIn:)``).
    public internal(set) var storesValueAtHome = false
    /// How that store ended: nil while it runs (or when there is none), else the failure, if any.
    var storeOutcome: Task.Failure??

    /// Whether the store of the value in local variables has ended, or none will come: the call
    /// failed (nothing to store) or there is no store.
    public var isStoreSettled: Bool {
        !storesValueAtHome || storeOutcome != nil || (isReady && isFailed)
    }
    /// A map's values on their way home as its tasks end, if the map was asked to send them.
    var valuesAtHome: MapValuesAtHome?
    /// Called once, when every task has replied.
    var onReady: (() -> Void)?

    init(number: Int, name: String?, label: String, op: EngineOp, targets: [Int32?]) {
        self.number = number
        self.name = name
        self.label = label
        self.op = op
        self.operation = AsyncResult.operationName(of: op, label: label)
        self.tasks = targets.map { Task(engine: $0) }
        self.isBalanced = !targets.isEmpty && targets.allSatisfy { $0 == nil }
        self.submitted = Clock.realtimeNanoseconds
    }

    // MARK: - Inspection

    /// Tasks that have replied; counted as replies arrive, since waits ask after every frame.
    public private(set) var completedCount = 0
    /// Whether every task has replied.
    public var isReady: Bool { completedCount == tasks.count }
    /// Whether some task replied with an error.
    public private(set) var isFailed = false

    /// Pending until a task starts, running until all are done, then done or failed.
    public var state: State {
        if isReady { return isFailed ? .failed : .done }
        if tasks.contains(where: { $0.isDone || $0.isRunning || !$0.stdout.isEmpty || !$0.stderr.isEmpty }) {
            return .running
        }
        return .pending
    }

    /// The Python exceptions raised, in task order.
    public var errors: [RemoteError] {
        tasks.compactMap { $0.error(operation: operation) }
    }

    /// Engines involved, in task order, without repeats.
    public var engines: [Int32] {
        var seen = Set<Int32>()
        return tasks.compactMap(\.engine).filter { seen.insert($0).inserted }
    }

    /// Seconds from submission to the last completion, or to when the last task ended without one (all
    /// aborted, say); to now while it runs.
    public var elapsed: Double {
        let lastCompletion = tasks.compactMap(\.completed).filter { $0 > 0 }.max()
        let end = isReady ? lastCompletion ?? readyAt ?? Clock.realtimeNanoseconds : Clock.realtimeNanoseconds
        return Double(end >= submitted ? end - submitted : 0) / 1e9
    }

    /// When its last task ended, as this client saw it (realtime nanoseconds); nil until then.
    public private(set) var readyAt: UInt64?

    /// From the first start to the last completion, in seconds.
    public var wallTime: Double {
        let starts = tasks.compactMap { $0.started }.filter { $0 > 0 }
        let ends = tasks.compactMap { $0.completed }.filter { $0 > 0 }
        guard let first = starts.min(), let last = ends.max(), last >= first else { return 0 }
        return Double(last - first) / 1e9
    }

    /// The sum of the tasks' durations, in seconds: what running them one after another would take.
    public var serialTime: Double {
        tasks.reduce(0) { sum, task in
            guard let started = task.started, let completed = task.completed, started > 0, completed >= started else {
                return sum
            }
            return sum + Double(completed - started) / 1e9
        }
    }

    /// The replies of all tasks; throws the remote errors if any task failed.
    package func get() throws -> [[Bytes]] {
        let errors = errors
        if errors.count == 1 { throw errors[0] }
        if !errors.isEmpty { throw CompositeError(errors) }
        return tasks.map { Array(($0.reply ?? []).dropFirst()) }
    }

    /// "<AsyncResult #7: %px on 4 engines, pending>"
    public var summary: String {
        let engineCount = Set(tasks.compactMap(\.engine)).count
        let scope =
            op == .mapChunk
            ? "\(tasks.count) task\(tasks.count == 1 ? "" : "s")"
            : "\(engineCount) engine\(engineCount == 1 ? "" : "s")"
        return "<AsyncResult \(name.map { "'\($0)'" } ?? "#\(number)"): \(label) on \(scope), \(state.rawValue)>"
    }

    // MARK: - Updates from the connection

    func record(output: Bytes, stream: OutputStream, task index: Int) {
        tasks[index].isRunning = true
        let count = stream == .stdout ? tasks[index].stdout.count : tasks[index].stderr.count
        let room = max(0, AsyncResult.outputLimit - count)
        let kept = output.count <= room ? output : Bytes(output.prefix(room))
        if kept.count < output.count { tasks[index].isOutputTruncated = true }
        if stream == .stdout { tasks[index].stdout += kept } else { tasks[index].stderr += kept }
        onOutput?(tasks[index].engine ?? EngineNumber.none, stream, kept)
    }

    func record(reply frame: Frame, task index: Int) {
        guard !tasks[index].isDone, let timing = frame.segments.first.flatMap(TaskTiming.init) else { return }
        if tasks[index].engine == nil || frame.engine != EngineNumber.none { tasks[index].engine = frame.engine }
        tasks[index].started = timing.started
        tasks[index].completed = timing.completed
        let segments = Array(frame.segments.dropFirst())
        if segments.first == ReplyStatus.ok.segment {
            tasks[index].reply = segments
        } else {
            tasks[index].failure = Task.Failure(reply: segments)
        }
        finish(task: index)
    }

    /// Why the store of the value in local variables failed, once it has.
    public var storeError: RemoteError? {
        guard case .some(.some(let failure)) = storeOutcome else { return nil }
        return RemoteError(
            engine: EngineNumber.home,
            kind: failure.kind,
            value: failure.message,
            traceback: failure.traceback,
            operation: "collect"
        )
    }

    /// Takes the reply of the home engine's store of the value (``FrameFlags/storedAtHome``).
    func record(storeReply frame: Frame) {
        let segments = Array(frame.segments.dropFirst())
        storeOutcome = segments.first == ReplyStatus.ok.segment ? .some(nil) : Task.Failure(reply: segments)
    }

    /// Fails every task that has not ended: the connection that would bring their replies is gone.
    func failUnfinished(_ error: ClusterError) {
        if storesValueAtHome && storeOutcome == nil {
            storeOutcome = Task.Failure(kind: .disconnected, message: "\(error)")
        }
        for index in tasks.indices where !tasks[index].isDone {
            tasks[index].failure = Task.Failure(kind: .disconnected, message: "\(error)")
            finish(task: index)
        }
    }

    private func finish(task index: Int) {
        tasks[index].isRunning = false
        completedCount += 1
        if tasks[index].isFailed { isFailed = true }
        if isReady { readyAt = Clock.realtimeNanoseconds }
        if !sharedArguments.isEmpty && isReady {
            SharedMemoryFiles.release(sharedArguments)
            sharedArguments = []
        }
        onTaskDone?(index)
        if isReady, let onReady {
            self.onReady = nil
            onReady()
        }
    }

    /// The name in error prefixes, as ipyparallel's `[0:execute]` and `[0:apply]`, and `[0:map item 7]`
    /// for a map; data moves use their magic's name.
    static func operationName(of op: EngineOp, label: String) -> String {
        switch op {
        case .execute: "execute"
        case .apply: "apply"
        case .mapChunk: "map"
        default: label.hasPrefix("%") ? String(label.dropFirst()) : "\(op)"
        }
    }
}
