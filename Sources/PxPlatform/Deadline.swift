/// A moment on the monotonic clock by which something should have happened: the one place that
/// turns "wait at most this long" into what `poll` takes.
public struct Deadline: Sendable, Equatable {
    /// Monotonic nanoseconds (``Clock/monotonicNanoseconds``).
    public let instant: UInt64

    /// The moment `seconds` from now (now itself for a negative value).
    public init(seconds: Double) {
        instant = Clock.monotonicNanoseconds + UInt64(max(0, seconds) * 1e9)
    }

    /// The moment `milliseconds` from now.
    public init(milliseconds: Int) {
        instant = Clock.monotonicNanoseconds + UInt64(max(0, milliseconds)) * 1_000_000
    }

    public var hasPassed: Bool { Clock.monotonicNanoseconds >= instant }

    /// Seconds left; 0 once it has passed.
    public var secondsLeft: Double {
        let now = Clock.monotonicNanoseconds
        return now >= instant ? 0 : Double(instant - now) / 1e9
    }

    /// Milliseconds left for `poll`, rounded up so that a wait never ends early; 0 once it has passed.
    public var pollTimeout: Int32 {
        let now = Clock.monotonicNanoseconds
        guard now < instant else { return 0 }
        return Int32(min((instant - now + 999_999) / 1_000_000, UInt64(Int32.max)))
    }

    /// The `poll` timeout for an optional deadline: -1, no limit, without one.
    public static func pollTimeout(until deadline: Deadline?) -> Int32 {
        deadline?.pollTimeout ?? -1
    }
}
