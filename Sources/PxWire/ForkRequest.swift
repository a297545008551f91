/// What the controller asks the zygote for: fork engine `id`. The engine's stdout and stderr pipes
/// travel beside it as passed descriptors; the answer is a ``ForkReply``.
public struct ForkRequest: Equatable, Sendable {
    public var id: Int32
    public var rank: Int
    public var size: Int
    public var isHome: Bool
    public var logPath: String

    public init(id: Int32, rank: Int, size: Int, isHome: Bool, logPath: String) {
        self.id = id
        self.rank = rank
        self.size = size
        self.isHome = isHome
        self.logPath = logPath
    }

    /// One message: id, rank, size and the home flag as little-endian 64-bit integers, then the log path.
    public var bytes: [UInt8] {
        var bytes: [UInt8] = []
        for field in [Int64(id), Int64(rank), Int64(size), isHome ? 1 : 0] { bytes.appendLittleEndian(field) }
        bytes += Array(logPath.utf8)
        return bytes
    }

    public init?(bytes: [UInt8]) {
        guard bytes.count >= 32 else { return nil }
        let fields = (0..<4).map { bytes.readLittleEndian(Int64.self, at: $0 * 8) }
        guard let id = Int32(exactly: fields[0]) else { return nil }
        self.init(
            id: id,
            rank: Int(fields[1]),
            size: Int(fields[2]),
            isHome: fields[3] != 0,
            logPath: String(decoding: bytes[32...], as: UTF8.self)
        )
    }
}

/// The zygote's answer to a ``ForkRequest``: the engine's pid, or the errno of a failed fork.
public enum ForkReply: Equatable, Sendable {
    case forked(pid: Int32)
    case failed(errno: Int32)

    public var bytes: [UInt8] {
        var bytes: [UInt8] = []
        switch self {
        case .forked(let pid): bytes.appendLittleEndian(Int64(pid))
        case .failed(let code): bytes.appendLittleEndian(-Int64(code))
        }
        return bytes
    }

    public init?(bytes: [UInt8]) {
        guard bytes.count == 8 else { return nil }
        let value = bytes.readLittleEndian(Int64.self, at: 0)
        guard let small = Int32(exactly: value) else { return nil }
        self = value > 0 ? .forked(pid: small) : .failed(errno: -small)
    }
}
