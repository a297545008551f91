/// The life of one engine as the controller sees it: one explicit state machine, the same for
/// engines the controller started as its children and engines that joined over TCP.
///
/// ```
///              connected           registered
/// launching ─────────────> registering ─────────> idle <──> busy
///     ^                        │                   │         │
///     │ relaunched             └── connection lost ┴─────────┴──> lost ── exited ──> dead
///     │                                                                                │
/// restarting <── restart requested (children, and remote engines that can be relaunched) │
///     ^                                                                                │
///     └──────────────────────────── relaunched (children) <────────────────────────────┘
/// ```
///
/// Any state but `dead` goes to `dead` when the process is seen to exit; an engine that is
/// `restarting` stays so until it is launched again. A remote engine can be restarted only when
/// its launcher can start it again alone (``isRelaunchable``: the ssh launcher's); relaunched, it
/// is `launching` until its successor joins. It is a value: the controller owns one per
/// engine and feeds it events; invalid events change nothing and say so.
public struct EngineLife: Equatable, Sendable {
    /// Where the engine runs, which decides what the controller can do to it.
    public enum Origin: Equatable, Sendable {
        /// A process the controller started on its own host: it can signal, reap and restart it.
        case child
        /// An engine that joined over TCP (started by a launcher or by hand) from `host`.
        case remote(host: String)
    }

    public enum State: Equatable, Sendable {
        /// A child process was started and has not connected yet.
        case launching
        /// Connected (a remote engine: authenticated) but not taking tasks yet.
        case registering
        case idle
        case busy
        /// Its connection closed or fell silent; a child's exit has not been seen yet.
        case lost(reason: String)
        case dead(cause: String)
        /// Being stopped on purpose, to be launched again with the same rank.
        case restarting
    }

    public enum Event: Equatable, Sendable {
        case connected
        /// Ready for tasks; `hasWork` when tasks already wait for it.
        case registered(hasWork: Bool)
        case workQueued
        case workDrained
        case connectionLost(reason: String)
        /// The process ended (or, for a remote engine, was given up).
        case exited(cause: String)
        case restartRequested
        case relaunched
        case removeRequested
    }

    public private(set) var state: State
    public let origin: Origin
    /// Whether it ever took tasks: one that never did would only fail again if restarted.
    public private(set) var hasRegistered = false
    /// Whether it is leaving the cluster for good.
    public private(set) var isBeingRemoved = false
    /// Whether the controller can start it again: a child always, a remote engine when its launcher
    /// can start its rank again alone (ssh; not one rank of an mpiexec or srun job).
    public let isRelaunchable: Bool

    /// - Parameter isLaunching: a remote engine that the controller's launcher is starting (`%add` on
    ///   ssh hosts): `launching` until it joins. Other remote engines begin `registering`: they are
    ///   known once they have connected.
    public init(origin: Origin, isRelaunchable: Bool = false, isLaunching: Bool = false) {
        self.origin = origin
        self.isRelaunchable = origin == .child || isRelaunchable
        self.state = origin == .child || isLaunching ? .launching : .registering
    }

    /// Applies `event`.
    ///
    /// - Returns: false, with nothing changed, when the event is not valid in the current state.
    @discardableResult
    public mutating func handle(_ event: Event) -> Bool {
        guard let next = next(after: event) else { return false }
        if case .registered = event { hasRegistered = true }
        if event == .removeRequested { isBeingRemoved = true }
        state = next
        return true
    }

    private func next(after event: Event) -> State? {
        switch (state, event) {
        case (.launching, .connected): .registering
        case (.registering, .registered(let hasWork)): hasWork ? .busy : .idle
        case (.idle, .workQueued), (.busy, .workQueued): .busy
        case (.launching, .workQueued), (.registering, .workQueued), (.restarting, .workQueued): state
        case (.busy, .workDrained), (.idle, .workDrained): .idle
        case (.registering, .connectionLost(let reason)), (.idle, .connectionLost(let reason)),
            (.busy, .connectionLost(let reason)):
            .lost(reason: reason)
        case (.restarting, .connectionLost), (.restarting, .exited): .restarting
        case (.dead, .exited): nil
        case (_, .exited(let cause)): .dead(cause: cause)
        case (.dead, .restartRequested): origin == .child ? .launching : nil
        case (.launching, .restartRequested), (.registering, .restartRequested), (.idle, .restartRequested),
            (.busy, .restartRequested), (.lost, .restartRequested), (.restarting, .restartRequested):
            isRelaunchable ? .restarting : nil
        case (.restarting, .relaunched): isRelaunchable ? .launching : nil
        case (.dead, .relaunched): origin == .child ? .launching : nil
        case (_, .removeRequested): isBeingRemoved ? nil : state
        default: nil
        }
    }

    // MARK: - Questions the controller asks

    /// Whether tasks can be sent to it now.
    public var takesTasks: Bool { state == .idle || state == .busy }

    /// Whether direct tasks for it should wait for it rather than fail.
    public var acceptsWork: Bool {
        switch state {
        case .dead, .lost: false
        default: !isBeingRemoved
        }
    }

    /// Whether it is gone (or going) for good.
    public var isDead: Bool {
        if case .dead = state { return true }
        return false
    }

    /// Whether the controller must watch for the child process's exit.
    public var needsReaping: Bool {
        guard origin == .child else { return false }
        switch state {
        case .launching, .lost, .restarting: return true
        default: return false
        }
    }

    /// Whether it is starting and has never taken tasks (first clients wait for these).
    public var isStartingForTheFirstTime: Bool {
        (state == .launching || state == .registering) && !hasRegistered
    }

    /// Whether it is on its way up: launching, registering or restarting.
    public var isStarting: Bool { state == .launching || state == .registering || state == .restarting }

    /// The host it runs on, for reports; nil for the controller's own children.
    public var host: String? {
        if case .remote(let host) = origin { return host }
        return nil
    }
}
