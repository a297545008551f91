#if canImport(Glibc)
import Glibc
#endif

/// The current date, for stamping a report.
enum WallClock {
    /// Now in UTC as ISO 8601, e.g. "2025-06-01T12:00:00Z". The corresponding C functions are `time` and `gmtime_r`.
    static func nowISO8601() -> String {
        var seconds = time(nil)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}
