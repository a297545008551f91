import PxPlatform

#if canImport(Glibc)
import Glibc
#endif

/// The machine a run was measured on, so that a figure is never quoted without it.
public struct MachineInfo: Equatable, Sendable {
    public var cpuModel: String
    public var cpuCount: Int
    public var memoryBytes: Int64
    /// `uname -sr`, e.g. "Linux 6.1.0".
    public var kernel: String
    public var hostname: String

    public init(cpuModel: String, cpuCount: Int, memoryBytes: Int64, kernel: String, hostname: String) {
        self.cpuModel = cpuModel
        self.cpuCount = cpuCount
        self.memoryBytes = memoryBytes
        self.kernel = kernel
        self.hostname = hostname
    }

    /// This machine, from `/proc/cpuinfo`, `/proc/meminfo`, `sysconf` and `uname`.
    public static var current: MachineInfo {
        let names = systemNames()
        return MachineInfo(
            cpuModel: procField("/proc/cpuinfo", "model name") ?? "unknown CPU",
            cpuCount: max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))),
            memoryBytes: procField("/proc/meminfo", "MemTotal").flatMap { Int64($0.filter(\.isNumber)) }.map {
                $0 * 1024
            }
                ?? -1,
            kernel: names.sysname + " " + names.release,
            hostname: names.nodename
        )
    }

    /// The value after the first "key:" line of a `/proc` file.
    private static func procField(_ path: String, _ key: String) -> String? {
        guard let bytes = try? FileDescriptor.readAll(path) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix(key) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return String(line[line.index(after: colon)...].drop(while: { $0 == " " || $0 == "\t" }))
        }
        return nil
    }

    /// The fields of `uname` this report uses. The corresponding C function is `uname`.
    private static func systemNames() -> (sysname: String, release: String, nodename: String) {
        var names = utsname()
        guard uname(&names) == 0 else { return ("?", "?", "?") }
        return (cString(names.sysname), cString(names.release), cString(names.nodename))
    }

    /// A fixed-size C `char` array (imported as a tuple) read up to its NUL.
    private static func cString<Tuple>(_ tuple: Tuple) -> String {
        withUnsafeBytes(of: tuple) { raw in String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }
}
