import PxPlatform

#if canImport(Glibc)
import Glibc
#endif

/// A child process whose standard output (and error) is read line by line as it comes.
///
/// The child's standard input is a pipe that this process holds open and never writes: the child sees end of
/// file when we exit or die, however that happens, which is how the peers' script knows to stop the clusters it
/// started instead of leaving them behind.
enum LineReadingProcess {
    /// Why a run ended.
    enum Ending: Equatable {
        case exited(ProcessSpawner.Termination?)
        /// No output for the idle limit; the child was stopped.
        case idleTimeout
    }

    /// Runs `executable` to completion, calling `onLine` for every line it prints (without the newline).
    ///
    /// - Parameters:
    ///   - idleSeconds: how long the child may stay silent before it is considered hung and stopped.
    /// - Throws: ``SystemError`` when the child cannot be started.
    static func run(
        _ executable: String,
        arguments: [String],
        idleSeconds: Int,
        onLine: (String) -> Void
    ) throws -> Ending {
        let input = try FileDescriptor.pipe()
        let output: (read: FileDescriptor, write: FileDescriptor)
        do {
            output = try FileDescriptor.pipe()
        } catch {
            input.read.close()
            input.write.close()
            throw error
        }
        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(
                executable,
                arguments: arguments,
                output: output.write,
                standardInput: input.read
            )
        } catch {
            for descriptor in [input.read, input.write, output.read, output.write] { descriptor.close() }
            throw error
        }
        input.read.close()
        output.write.close()
        defer { output.read.close() }

        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var lastOutput = Clock.monotonicNanoseconds
        let idleLimit = UInt64(idleSeconds) * 1_000_000_000
        while true {
            let events = try Poll.wait([(output.read, .readable)], timeoutMilliseconds: 1_000)
            if events[0].isEmpty {
                guard Clock.monotonicNanoseconds - lastOutput > idleLimit else { continue }
                stop(pid, input: input.write)
                return .idleTimeout
            }
            let count = (try? chunk.withUnsafeMutableBytes { try output.read.read(into: $0) }) ?? 0
            if count == 0 { break }
            lastOutput = Clock.monotonicNanoseconds
            pending += chunk[0..<count]
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                onLine(String(decoding: pending[..<newline], as: UTF8.self))
                pending.removeSubrange(...newline)
            }
        }
        if !pending.isEmpty { onLine(String(decoding: pending, as: UTF8.self)) }
        input.write.close()
        return .exited(ProcessSpawner.wait(pid))
    }

    /// Closes the child's input so that it cleans up after itself, then kills its process group if it lingers.
    private static func stop(_ pid: pid_t, input: FileDescriptor) {
        input.close()
        if ProcessSpawner.wait(pid, milliseconds: 10_000) == nil {
            kill(-pid, SIGKILL)
            _ = ProcessSpawner.wait(pid)
        }
    }
}
