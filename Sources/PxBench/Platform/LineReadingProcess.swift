import PxPlatform

#if canImport(Glibc)
import Glibc
#endif

/// A child process whose standard output (and error) is read line by line as it comes.
///
/// The child's standard input is a pipe that this process holds open: the child sees end of file when we
/// close it, or exit or die however that happens, which is how the peers' script knows to stop the clusters it
/// started instead of leaving them behind. ``run(_:arguments:idleSeconds:onLine:)`` never writes to it;
/// ``send(_:)`` does, for a child that answers requests.
final class LineReadingProcess {
    /// Why a run ended.
    enum Ending: Equatable {
        case exited(ProcessSpawner.Termination?)
        /// No output for the idle limit; the child was stopped.
        case idleTimeout
    }

    let pid: pid_t
    private let input: FileDescriptor
    private let output: FileDescriptor
    private var isInputOpen = true
    private var isOutputClosed = false
    private var hasEnded = false
    private var pending: [UInt8] = []
    private var chunk = [UInt8](repeating: 0, count: 1 << 16)

    /// Starts `executable`, its output and error going to one pipe that this object reads.
    ///
    /// - Throws: ``SystemError`` when the child cannot be started.
    init(_ executable: String, arguments: [String]) throws {
        let input = try FileDescriptor.pipe()
        let output: (read: FileDescriptor, write: FileDescriptor)
        do {
            output = try FileDescriptor.pipe()
        } catch {
            input.read.close()
            input.write.close()
            throw error
        }
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
        self.input = input.write
        self.output = output.read
    }

    deinit {
        if !hasEnded { stop() }
        output.close()
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
        let process = try LineReadingProcess(executable, arguments: arguments)
        while true {
            guard let line = try process.nextLine(idleSeconds: idleSeconds) else { break }
            onLine(line)
        }
        return process.ending ?? .exited(process.finish())
    }

    /// Set once the child printed nothing for the idle limit and was stopped.
    private(set) var ending: Ending?

    /// The next line the child prints, without its newline; nil at the end of its output, or when it printed
    /// nothing for `idleSeconds` (it is then stopped, and ``ending`` is ``Ending/idleTimeout``).
    func nextLine(idleSeconds: Int) throws -> String? {
        let idleLimit = UInt64(idleSeconds) * 1_000_000_000
        var lastOutput = Clock.monotonicNanoseconds
        while true {
            if let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                defer { pending.removeSubrange(...newline) }
                return String(decoding: pending[..<newline], as: UTF8.self)
            }
            if ending != nil || isOutputClosed { return nil }
            let events = try Poll.wait([(output, .readable)], timeoutMilliseconds: 1_000)
            if events[0].isEmpty {
                guard Clock.monotonicNanoseconds - lastOutput > idleLimit else { continue }
                stop()
                ending = .idleTimeout
                return nil
            }
            let count = (try? chunk.withUnsafeMutableBytes { try output.read(into: $0) }) ?? 0
            if count == 0 {
                isOutputClosed = true
                guard !pending.isEmpty else { return nil }
                defer { pending.removeAll() }
                return String(decoding: pending, as: UTF8.self)
            }
            lastOutput = Clock.monotonicNanoseconds
            pending += chunk[0..<count]
        }
    }

    /// Writes `line` and a newline to the child's standard input.
    func send(_ line: String) throws {
        try input.writeAll(line + "\n")
    }

    /// Closes the child's input and waits for it to exit.
    func finish() -> ProcessSpawner.Termination? {
        closeInput()
        hasEnded = true
        return ProcessSpawner.wait(pid)
    }

    /// Closes the child's input so that it cleans up after itself, then kills its process group if it lingers.
    func stop() {
        closeInput()
        if ProcessSpawner.wait(pid, milliseconds: 10_000) == nil {
            kill(-pid, SIGKILL)
            _ = ProcessSpawner.wait(pid)
        }
        hasEnded = true
    }

    private func closeInput() {
        guard isInputOpen else { return }
        isInputOpen = false
        input.close()
    }
}
