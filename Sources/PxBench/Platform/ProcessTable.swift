import PxTransport

#if canImport(Glibc)
import Glibc
#endif

/// What `/proc` says about processes: their resident memory and their children.
///
/// Linux only; on other systems every answer is nil or empty, and the memory rows are left out.
enum ProcessTable {
    /// The resident set size of `pid` in bytes (`VmRSS` of `/proc/PID/status`); nil if it is gone.
    static func residentBytes(of pid: pid_t) -> Int64? {
        kilobytes("VmRSS:", in: "/proc/\(pid)/status").map { $0 * 1024 }
    }

    /// The proportional set size of `pid` in bytes (`Pss` of `/proc/PID/smaps_rollup`): each shared page is
    /// divided among the processes that share it, so that a sum over processes counts it once. Falls back to
    /// the RSS where the kernel lacks `smaps_rollup` (before Linux 4.14).
    static func proportionalBytes(of pid: pid_t) -> Int64? {
        kilobytes("Pss:", in: "/proc/\(pid)/smaps_rollup").map { $0 * 1024 } ?? residentBytes(of: pid)
    }

    /// The number on the line of `file` that starts with `key`, e.g. "VmRSS:     23456 kB" (the kernel's kB
    /// are KiB).
    private static func kilobytes(_ key: String, in file: String) -> Int64? {
        guard let bytes = try? FileDescriptor.readAll(file) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix(key) {
            return Int64(line.dropFirst(key.count).filter(\.isNumber))
        }
        return nil
    }

    /// The parent of `pid` (field 4 of `/proc/PID/stat`); nil if it is gone.
    static func parent(of pid: pid_t) -> pid_t? {
        guard let stat = try? FileDescriptor.readAll("/proc/\(pid)/stat") else { return nil }
        // The command name (field 2) is in parentheses and may hold spaces or ')'; fields resume after the last ')'.
        let text = String(decoding: stat, as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? pid_t(fields[1]) : nil
    }

    /// Every live descendant of `ancestor` (children, grandchildren, ...), in no particular order.
    static func descendants(of ancestor: pid_t) -> [pid_t] {
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

    /// The pids listed in `/proc`. The corresponding C functions are `opendir` and `readdir`.
    private static func allProcesses() -> [pid_t] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var pids: [pid_t] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if let pid = pid_t(name) { pids.append(pid) }
        }
        return pids
    }
}
