/// When a task started and completed on its engine, in nanoseconds of the system's real-time clock.
///
/// It is the first segment of every reply, so records can be kept without decoding the rest.
public struct TaskTiming: Equatable, Sendable {
    public var started: UInt64
    public var completed: UInt64

    public init(started: UInt64, completed: UInt64) {
        self.started = started
        self.completed = completed
    }

    public var segment: Bytes {
        var bytes = Bytes()
        bytes.reserveCapacity(16)
        bytes.appendLittleEndian(started)
        bytes.appendLittleEndian(completed)
        return bytes
    }

    public init?(_ segment: Bytes) {
        var reader = ByteReader(segment)
        guard let started = reader.read(UInt64.self), let completed = reader.read(UInt64.self) else { return nil }
        self.init(started: started, completed: completed)
    }
}
