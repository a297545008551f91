import PxPlatform
import PxWire

#if canImport(Glibc)
import Glibc
#endif

/// The controller's side of the zygote (`pxsh engine --zygote`, see PxEngine's `Zygote`): started at
/// the first local engine launch, it forks every later one from a Python that has already started.
///
/// Any failure (the zygote could not start Python, died, or does not answer) retires it, and engines
/// are then spawned one by one as before, so a broken zygote costs speed, never an engine.
final class EngineZygote {
    private var process: (pid: pid_t, control: FileDescriptor)?
    private var isRetired = false
    /// How long a fork may take, including the zygote's own start of Python the first time.
    static let answerMilliseconds: Int32 = 30_000

    var pid: pid_t? { process?.pid }

    /// Forks engine `request.id` with `output` and `errorOutput` as its fds 1 and 2.
    ///
    /// - Returns: the engine's pid (a child of this process once this returns), or nil when there
    ///   is no working zygote and the caller should spawn the engine itself.
    func fork(
        _ request: ForkRequest,
        output: FileDescriptor,
        errorOutput: FileDescriptor,
        start: () throws -> (pid: pid_t, control: FileDescriptor)
    ) -> pid_t? {
        guard !isRetired else { return nil }
        if process == nil {
            do { process = try start() } catch { return retire() }
        }
        guard let (_, control) = process else { return nil }
        do {
            try control.send(request.bytes, passing: [output, errorOutput])
            let deadline = Deadline(milliseconds: Int(EngineZygote.answerMilliseconds))
            while try Poll.wait([(control, .readable)], timeoutMilliseconds: 100)[0].isEmpty {
                if deadline.hasPassed { return retire() }
            }
            guard case .forked(let pid)? = ForkReply(bytes: try control.receive(maximumCount: 8).bytes) else {
                return retire()
            }
            return pid
        } catch {
            return retire()
        }
    }

    /// Ends the zygote: it exits when its socket closes; a stuck one is killed.
    func stop() {
        guard let (pid, control) = process else { return }
        process = nil
        control.close()
        if ProcessSpawner.wait(pid, milliseconds: 500) == nil {
            kill(pid, SIGKILL)
            _ = ProcessSpawner.wait(pid)
        }
    }

    private func retire() -> pid_t? {
        isRetired = true
        stop()
        return nil
    }
}
