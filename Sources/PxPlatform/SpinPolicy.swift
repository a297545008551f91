#if canImport(Glibc)
import Glibc
#endif

/// How long a wait for a reply polls for it before it sleeps: 0 s, or up to ``longest``.
///
/// A process that sleeps in `poll` lets its CPU halt when nothing else runs there, and waking a halted
/// virtual CPU costs about 30 µs on a VM without guest halt-polling: a local line is four such hops in a
/// row (the prompt, the controller, the home engine, the controller). A waiter that polls (yielding its
/// CPU to anything runnable there) until the reply comes keeps its CPU awake for it. That burns CPU, so
/// a wait spins only (the Python client's `_Spin` follows the same rules):
/// - for a result of fewer tasks than CPUs: the waiter holds one CPU, the tasks need the others;
/// - while the machine has a CPU to spare: no more runnable tasks than CPUs (`/proc/loadavg`, read
///   after a reply, at most every 10 ms); on a busy machine the CPUs are awake anyway, and a spin would
///   take the CPU that the controller or an engine needs;
/// - for twice as long as the last wait took, at most ``longest``;
/// - while spins pay: after a spin that its reply did not end, the next 1, 2, 4 ... 64 waits do not spin.
///
/// `PXSH_NO_SPIN` set in pxsh's environment turns it off, here and in the home engine's `px`.
public struct SpinPolicy {
    public static let longest = 0.0005
    static let sampleEvery: UInt64 = 10_000_000
    static let backoffLimit = 64

    let cpus: Int
    /// The number of runnable tasks on the machine, this thread included (nil: unknown, never spin).
    let runnableTasks: () -> Int?
    var nextSample: UInt64 = 0
    var hasSpareCPU = false
    var lastWait = SpinPolicy.longest
    var skip = 0
    var backoff = 0
    /// How many waits spun, and how many of them caught their reply.
    public private(set) var spins = 0
    public private(set) var caught = 0

    public init(cpus: Int = SpinPolicy.onlineCPUs, runnableTasks: @escaping () -> Int? = SpinPolicy.runnableTasks) {
        self.cpus = cpus
        self.runnableTasks = getenv("PXSH_NO_SPIN") == nil ? runnableTasks : { nil }
    }

    /// How long a wait for `tasks` tasks that begins now may spin, in seconds (0: not at all).
    public mutating func budget(tasks: Int) -> Double {
        guard tasks < cpus, hasSpareCPU else { return 0 }
        if skip > 0 {
            skip -= 1
            return 0
        }
        return min(Self.longest, 2 * lastWait)
    }

    /// A wait that could spin got its reply after `waited` seconds; `caught` if that was while spinning.
    public mutating func ended(waited: Double, spun: Bool, caught didCatch: Bool) {
        lastWait = waited
        if spun {
            spins += 1
            if didCatch {
                caught += 1
                backoff = 0
            } else {
                backoff = min(Self.backoffLimit, max(1, 2 * backoff))
                skip = backoff
            }
        }
        let now = Clock.monotonicNanoseconds
        if now >= nextSample {  // after a reply: this client's own request runs no more
            nextSample = now + Self.sampleEvery
            hasSpareCPU = runnableTasks().map { $0 <= cpus } ?? false
        }
    }

    public static var onlineCPUs: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// The fourth field of `/proc/loadavg`, "runnable/all" tasks: "0.52 0.40 0.31 2/180 4242".
    public static func runnableTasks() -> Int? {
        guard let text = try? FileDescriptor.readAll("/proc/loadavg", limit: 256) else { return nil }
        let fields = text.split(separator: UInt8(ascii: " "))
        guard fields.count > 3, let slash = fields[3].firstIndex(of: UInt8(ascii: "/")) else { return nil }
        return Int(String(decoding: fields[3][..<slash], as: UTF8.self))
    }
}
