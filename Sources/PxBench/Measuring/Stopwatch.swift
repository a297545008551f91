import PxPlatform

/// Elapsed time on the monotonic clock, which never jumps, from the moment the stopwatch was made.
struct Stopwatch {
    private let start = Clock.monotonicNanoseconds

    /// Seconds since the stopwatch was made.
    var seconds: Double { Double(Clock.monotonicNanoseconds - start) / 1e9 }

    /// How long `body` takes, in seconds, and what it returned.
    static func time<Result>(_ body: () throws -> Result) rethrows -> (seconds: Double, result: Result) {
        let stopwatch = Stopwatch()
        let result = try body()
        return (stopwatch.seconds, result)
    }
}
