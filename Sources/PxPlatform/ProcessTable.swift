#if canImport(Glibc)
import Glibc
#endif

/// What `/proc` says about processes: their state, parent, command line, environment and memory.
///
/// Linux only; on other systems every answer is nil or empty.
public enum ProcessTable {
    /// One process as `/proc/PID/stat` and `/proc/PID/cmdline` show it.
    public struct Entry: Sendable, CustomStringConvertible {
        public var pid: pid_t
        public var parent: pid_t
        /// The one-letter state of `/proc/PID/stat`: R, S, D, Z (zombie), ...
        public var state: Character
        public var commandLine: String

        /// A zombie has exited; only its parent's `wait` is missing.
        public var isAlive: Bool { state != "Z" && state != "X" }
        public var description: String { "\(pid) [\(state)] ppid \(parent): \(commandLine)" }
    }

    // MARK: - Processes

    /// The process `pid`, or nil when it no longer exists.
    public static func entry(_ pid: pid_t) -> Entry? {
        guard let stat = readText("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        // "PID (comm) S PPID ...": the command name may contain spaces and parentheses.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count >= 2, let state = fields[0].first, let parent = pid_t(fields[1]) else { return nil }
        let commandLine = (readText("/proc/\(pid)/cmdline") ?? "").split(separator: "\0").joined(separator: " ")
        return Entry(pid: pid, parent: parent, state: state, commandLine: commandLine)
    }

    /// Whether `pid` still runs (a zombie does not).
    public static func isAlive(_ pid: pid_t) -> Bool {
        entry(pid)?.isAlive ?? false
    }

    /// The parent of `pid`; nil if it is gone.
    public static func parent(of pid: pid_t) -> pid_t? {
        entry(pid)?.parent
    }

    /// The environment of `pid` as `NAME=value` entries (empty if it cannot be read).
    public static func environment(of pid: pid_t) -> [String] {
        (readText("/proc/\(pid)/environ") ?? "").split(separator: "\0").map(String.init)
    }

    /// Every process whose environment contains `token` or whose command line contains `marker`,
    /// other than this one.
    public static func processes(withToken token: String, orCommandLineContaining marker: String? = nil) -> [Entry] {
        allProcesses().compactMap { pid in
            guard pid != getpid(), let entry = entry(pid) else { return nil }
            let matchesMarker = marker.map { entry.commandLine.contains($0) } ?? false
            guard matchesMarker || environment(of: pid).contains(token) else { return nil }
            return entry
        }
    }

    /// Every live descendant of `ancestor` (children, grandchildren, ...), in no particular order.
    public static func descendants(of ancestor: pid_t) -> [pid_t] {
        var children: [pid_t: [pid_t]] = [:]
        for pid in allProcesses() {
            if let parent = parent(of: pid) { children[parent, default: []].append(pid) }
        }
        var found: [pid_t] = []
        var frontier = [ancestor]
        while let next = frontier.popLast() {
            let direct = children[next] ?? []
            found += direct
            frontier += direct
        }
        return found
    }

    /// The pids listed in `/proc`.
    public static func allProcesses() -> [pid_t] {
        (DirectoryListing.names(in: "/proc") ?? []).compactMap { pid_t($0) }
    }

    // MARK: - Memory

    /// The resident set size of `pid` in bytes (`VmRSS` of `/proc/PID/status`); nil if it is gone.
    public static func residentBytes(of pid: pid_t) -> Int64? {
        kilobytes("VmRSS:", in: "/proc/\(pid)/status").map { $0 * 1024 }
    }

    /// The proportional set size of `pid` in bytes (`Pss` of `/proc/PID/smaps_rollup`): each shared page is
    /// divided among the processes that share it, so that a sum over processes counts it once. Falls back to
    /// the RSS where the kernel lacks `smaps_rollup` (before Linux 4.14).
    public static func proportionalBytes(of pid: pid_t) -> Int64? {
        kilobytes("Pss:", in: "/proc/\(pid)/smaps_rollup").map { $0 * 1024 } ?? residentBytes(of: pid)
    }

    /// The number on the line of `file` that starts with `key`, e.g. "VmRSS:     23456 kB" (the kernel's kB
    /// are KiB).
    private static func kilobytes(_ key: String, in file: String) -> Int64? {
        guard let text = readText(file) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key) {
            return Int64(line.dropFirst(key.count).filter(\.isNumber))
        }
        return nil
    }

    private static func readText(_ path: String) -> String? {
        guard let bytes = try? FileDescriptor.readAll(path) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }
}
