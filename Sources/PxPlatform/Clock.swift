#if canImport(Glibc)
import Glibc
#endif

/// Real-time and monotonic clocks in nanoseconds.
public enum Clock {
    /// Nanoseconds since the epoch, comparable across processes. The corresponding C function is `clock_gettime`.
    public static var realtimeNanoseconds: UInt64 { read(CLOCK_REALTIME) }
    /// Nanoseconds of a clock that never jumps, for durations and deadlines.
    public static var monotonicNanoseconds: UInt64 { read(CLOCK_MONOTONIC) }

    private static func read(_ clock: clockid_t) -> UInt64 {
        var spec = timespec()
        clock_gettime(clock, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}
