/// A client's request to run an ``EngineOp``: on explicit targets, or load-balanced over the engines.
///
/// Every task gets the `shared` segments followed by its own. Without per-task segments, each
/// target gets one task with the shared segments only. Load-balanced submissions have one task per
/// entry of `perTask`, so a map's function travels once per submission; their targets, if any, are
/// the engines that may run them (a load-balanced view on some engines).
public struct Submission: Equatable, Sendable {
    public var op: EngineOp
    public var targets: [Int32]
    public var isBalanced: Bool
    /// Whether each task's segments are a call's text for the home engine to pack first (see
    /// ``FrameFlags/packedAtHome``): a load-balanced `apply` then costs the client one request.
    public var isPackedAtHome: Bool
    /// The local variables that a call packed at home stores its value in (see
    /// ``FrameFlags/storedAtHome``); empty for none. They travel as the one shared segment.
    public var storedAtHome: [String]
    /// Whether the client wants the answer in one frame (``FrameFlags/oneAnswer``): a direct submission's,
    /// or a load-balanced one of a single task (a call), whose one reply is the whole answer too.
    public var isAnsweredInOneFrame: Bool
    /// How often a load-balanced task is retried after its engine died; nil for the default.
    public var retries: Int?
    public var shared: [Bytes]
    public var perTask: [[Bytes]]

    public init(
        op: EngineOp,
        targets: [Int32] = [],
        isBalanced: Bool = false,
        isPackedAtHome: Bool = false,
        storedAtHome: [String] = [],
        isAnsweredInOneFrame: Bool = false,
        retries: Int? = nil,
        shared: [Bytes] = [],
        perTask: [[Bytes]] = []
    ) {
        self.op = op
        self.targets = targets
        self.isBalanced = isBalanced
        self.isPackedAtHome = isPackedAtHome
        self.storedAtHome = storedAtHome
        self.isAnsweredInOneFrame = isAnsweredInOneFrame
        self.retries = retries
        self.shared = shared
        self.perTask = perTask
    }

    /// The number of tasks this submission makes.
    public var taskCount: Int { isBalanced || !perTask.isEmpty ? perTask.count : targets.count }

    /// The segments of task `index`.
    public func arguments(ofTask index: Int) -> [Bytes] {
        perTask.isEmpty ? shared : shared + perTask[index]
    }

    /// Whether the shape is consistent: direct submissions with per-task segments need one per target;
    /// calls packed at home are load-balanced `apply` tasks of a function text and an argument text.
    public var isWellFormed: Bool {
        if isAnsweredInOneFrame && isBalanced && perTask.count != 1 { return false }
        if isPackedAtHome {
            return isBalanced && op == .apply && shared.isEmpty && targets.isEmpty
                && perTask.allSatisfy { $0.count == 2 } && (storedAtHome.isEmpty || perTask.count == 1)
        }
        if !storedAtHome.isEmpty { return false }
        return isBalanced || perTask.isEmpty || perTask.count == targets.count
    }

    /// The engines that may run a load-balanced submission's tasks; nil for any.
    public var allowedEngines: Set<Int32>? {
        isBalanced && !targets.isEmpty ? Set(targets) : nil
    }

    public func frame(requestID: UInt64) -> Frame {
        let shared = storedAtHome.isEmpty ? shared : [Bytes(text: storedAtHome.joined(separator: ","))] + shared
        var header = Bytes()
        header.appendLittleEndian(UInt32(retries.map { max(0, $0) } ?? Int(UInt32.max)))
        header.appendLittleEndian(UInt32(targets.count))
        for target in targets { header.appendLittleEndian(target) }
        header.appendLittleEndian(UInt32(shared.count))
        header.appendLittleEndian(UInt32(perTask.count))
        for task in perTask { header.appendLittleEndian(UInt32(task.count)) }
        var segments = [header]
        segments.reserveCapacity(1 + shared.count + perTask.reduce(0) { $0 + $1.count })
        segments += shared
        for task in perTask { segments += task }
        var flags = FrameFlags(isBalanced ? [.balanced] : []).union(isPackedAtHome ? [.packedAtHome] : [])
        if !storedAtHome.isEmpty { flags.insert(.storedAtHome) }
        if isAnsweredInOneFrame { flags.insert(.oneAnswer) }
        return Frame(
            kind: .submit,
            op: op.rawValue,
            flags: flags,
            id: requestID,
            segments: segments
        )
    }

    /// Reads a submit frame; nil when it is malformed.
    public init?(_ frame: Frame) {
        guard frame.kind == .submit, let op = EngineOp(rawValue: frame.op), let header = frame.segments.first else {
            return nil
        }
        var reader = ByteReader(header)
        guard let retries = reader.read(UInt32.self), let targetCount = reader.read(UInt32.self),
            targetCount <= header.count / 4
        else { return nil }
        var targets: [Int32] = []
        for _ in 0..<targetCount {
            guard let target = reader.read(Int32.self) else { return nil }
            targets.append(target)
        }
        guard let sharedCount = reader.read(UInt32.self), let taskCount = reader.read(UInt32.self),
            taskCount <= header.count / 4
        else { return nil }
        var counts: [Int] = []
        for _ in 0..<taskCount {
            guard let count = reader.read(UInt32.self) else { return nil }
            counts.append(Int(count))
        }
        var position = 1
        let segments = frame.segments
        guard Int(sharedCount) <= segments.count - position else { return nil }
        var shared = Array(segments[position..<position + Int(sharedCount)])
        position += Int(sharedCount)
        var storedAtHome: [String] = []
        if frame.flags.contains(.storedAtHome) {
            guard let names = shared.first else { return nil }
            storedAtHome = names.text.split(separator: ",").map(String.init)
            guard !storedAtHome.isEmpty else { return nil }
            shared.removeFirst()
        }
        var perTask: [[Bytes]] = []
        perTask.reserveCapacity(counts.count)
        for count in counts {
            guard count <= segments.count - position else { return nil }
            perTask.append(Array(segments[position..<position + count]))
            position += count
        }
        guard position == segments.count else { return nil }
        self.init(
            op: op,
            targets: targets,
            isBalanced: frame.flags.contains(.balanced),
            isPackedAtHome: frame.flags.contains(.packedAtHome),
            storedAtHome: storedAtHome,
            isAnsweredInOneFrame: frame.flags.contains(.oneAnswer),
            retries: retries == UInt32.max ? nil : Int(retries),
            shared: shared,
            perTask: perTask
        )
        guard isWellFormed else { return nil }
    }
}

/// The task ids a submission was given: `count` consecutive ids from `first`, in task order.
public struct Accepted: Equatable, Sendable {
    public var first: UInt64
    public var count: Int

    public init(first: UInt64, count: Int) {
        self.first = first
        self.count = count
    }

    public func frame(requestID: UInt64) -> Frame {
        var segment = Bytes()
        segment.appendLittleEndian(first)
        segment.appendLittleEndian(UInt32(count))
        return Frame(kind: .accepted, id: requestID, segments: [segment])
    }

    public init?(_ frame: Frame) {
        guard frame.kind == .accepted, let segment = frame.segments.first else { return nil }
        var reader = ByteReader(segment)
        guard let first = reader.read(UInt64.self), let count = reader.read(UInt32.self) else { return nil }
        self.init(first: first, count: Int(count))
    }
}
