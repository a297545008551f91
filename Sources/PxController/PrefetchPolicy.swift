/// How many load-balanced tasks an engine may hold, from how long tasks take.
///
/// Prefetching hides the round trip to the controller, which matters only when tasks are short:
/// for 10 µs tasks an engine would otherwise idle most of the time. For long tasks it hurts: a
/// prefetched task waits behind a long one while another engine idles, so a job of uneven tasks
/// ends later. A new job starts cautious (no prefetch) until its first tasks show their length.
struct PrefetchPolicy {
    /// A moving average of recent task durations, in nanoseconds; nil before any is known.
    private(set) var averageDuration: Double?

    /// The prefetch the balancer should use now.
    var prefetch: Int {
        guard let averageDuration else { return 1 }
        switch averageDuration {
        case ..<1_000_000: return 8  // Under 1 ms: keep the pipe full.
        case ..<20_000_000: return 2
        default: return 1
        }
    }

    /// A job started on idle engines: what earlier jobs took says nothing about its tasks.
    mutating func jobStarted() {
        averageDuration = nil
    }

    mutating func taskTook(_ nanoseconds: UInt64) {
        let duration = Double(nanoseconds)
        averageDuration = averageDuration.map { 0.8 * $0 + 0.2 * duration } ?? duration
    }
}
