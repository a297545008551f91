/// One thing the user asked for: a line of Python, or a magic with its parsed arguments.
public enum Command: Equatable, Sendable {
    /// Python to run in the local (home) namespace.
    case python(String)
    /// `%px`, `%%px`, or a line under `%autopx`.
    case px(PxOptions, code: String)
    case autopx
    case pxconfig(PxOptions)
    case pxresult(name: String?)
    case push([Assignment], targets: TargetSpec?)
    case pull([String], targets: TargetSpec?)
    case scatter(name: String, expression: String, targets: TargetSpec?)
    case gather(name: String, targets: TargetSpec?)
    /// `F SEQ` as typed: the home engine tells the function from the sequence, since either may hold spaces.
    case map(MapOptions, call: String)
    /// `F ARGS` as typed, split the same way.
    case apply(call: String, name: String?)
    case jobs
    case wait(name: String?, timeout: Double?)
    case abort(name: String?)
    case result(name: String, storeAs: String?)
    case timeline(name: String?)
    case engines
    case interrupt(TargetSpec?)
    case restart(TargetSpec?, replay: Bool)
    /// `%restart --list`: what `%restart --replay` would replay.
    case listSetup
    case add(Int)
    case remove(TargetSpec)
    case who(TargetSpec?)
    /// Starts (with a path) or stops (nil) recording a transcript.
    case record(path: String?)
    case run(path: String)
    case help(String?)
    case quit

    /// `name` or `name=expression` in `%push`.
    public struct Assignment: Equatable, Sendable {
        public var name: String
        /// Empty: the local variable `name` itself.
        public var expression: String

        public init(name: String, expression: String = "") {
            self.name = name
            self.expression = expression
        }
    }
}

/// Flags of `%px` and `%pxconfig`. Unset fields take the session's defaults.
public struct PxOptions: Equatable, Sendable {
    public enum GroupOutputs: String, Equatable, Sendable, CaseIterable {
        case engine, order, type
    }

    public var targets: TargetSpec?
    public var block: Bool?
    /// Also run the code locally.
    public var local = false
    /// `--setup`: `%restart --replay` replays the whole cell, not only its imports and definitions.
    public var setup = false
    public var stream: Bool?
    public var groupOutputs: GroupOutputs?
    /// The name of the AsyncResult (`-o NAME`).
    public var name: String?
    public var timeout: Double?

    public init(
        targets: TargetSpec? = nil,
        block: Bool? = nil,
        local: Bool = false,
        stream: Bool? = nil,
        groupOutputs: GroupOutputs? = nil,
        name: String? = nil,
        timeout: Double? = nil,
        setup: Bool = false
    ) {
        self.setup = setup
        self.targets = targets
        self.block = block
        self.local = local
        self.stream = stream
        self.groupOutputs = groupOutputs
        self.name = name
        self.timeout = timeout
    }

    /// These options with unset fields taken from `defaults`.
    public func merged(over defaults: PxOptions) -> PxOptions {
        PxOptions(
            targets: targets ?? defaults.targets,
            block: block ?? defaults.block,
            local: local || defaults.local,
            stream: stream ?? defaults.stream,
            groupOutputs: groupOutputs ?? defaults.groupOutputs,
            name: name,
            timeout: timeout ?? defaults.timeout,
            setup: setup
        )
    }
}

/// Flags of `%map`.
public struct MapOptions: Equatable, Sendable {
    /// nil: automatic.
    public var chunkSize: Int?
    public var unordered = false
    public var block = true
    public var name: String?
    public var retries: Int?

    public init(
        chunkSize: Int? = nil,
        unordered: Bool = false,
        block: Bool = true,
        name: String? = nil,
        retries: Int? = nil
    ) {
        self.chunkSize = chunkSize
        self.unordered = unordered
        self.block = block
        self.name = name
        self.retries = retries
    }
}
