#if canImport(Glibc)
import Glibc
#endif

/// The processes of this machine as /proc shows them, to find what a pxsh run left behind.
///
/// Other engineers run pxsh on the same machine at the same time, so a test only ever looks at the
/// processes it started: those that carry its run's token in their environment (controllers and engines
/// inherit it), or whose command line names its private cluster directory.
enum ProcessTable {
    struct Entry: CustomStringConvertible {
        var pid: pid_t
        var parent: pid_t
        /// The one-letter state of /proc/PID/stat: R, S, D, Z (zombie), ...
        var state: Character
        var commandLine: String

        /// A zombie has exited; only its parent's `wait` is missing (PID 1 may never reap it here).
        var isAlive: Bool { state != "Z" && state != "X" }
        var description: String { "\(pid) [\(state)] ppid \(parent): \(commandLine)" }
    }

    /// Every process whose environment contains `token` or whose command line contains `marker`,
    /// other than this one.
    static func processes(withToken token: String, orCommandLineContaining marker: String? = nil) -> [Entry] {
        allPIDs().compactMap { pid in
            guard pid != getpid(), let entry = entry(pid) else { return nil }
            let matchesMarker = marker.map { entry.commandLine.contains($0) } ?? false
            guard matchesMarker || environment(of: pid).contains(token) else { return nil }
            return entry
        }
    }

    /// The process `pid`, or nil when it no longer exists.
    static func entry(_ pid: pid_t) -> Entry? {
        guard let stat = readFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
        // "PID (comm) S PPID ...": the command name may contain spaces and parentheses.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count >= 2, let state = fields[0].first, let parent = pid_t(fields[1]) else { return nil }
        let commandLine = (readFile("/proc/\(pid)/cmdline") ?? "").split(separator: "\0").joined(separator: " ")
        return Entry(pid: pid, parent: parent, state: state, commandLine: commandLine)
    }

    /// Whether `pid` still runs (a zombie does not).
    static func isAlive(_ pid: pid_t) -> Bool {
        entry(pid)?.isAlive ?? false
    }

    /// The environment of `pid` as `NAME=value` entries (empty if it cannot be read).
    static func environment(of pid: pid_t) -> [String] {
        (readFile("/proc/\(pid)/environ") ?? "").split(separator: "\0").map(String.init)
    }

    private static func allPIDs() -> [pid_t] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var pids: [pid_t] = []
        while let item = readdir(directory) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if let pid = pid_t(name) { pids.append(pid) }
        }
        return pids
    }

    private static func readFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count > 0 {
                bytes += buffer[0..<count]
                continue
            }
            if count < 0 && errno == EINTR { continue }
            break
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
