import PxPlatform
import PxWire

#if canImport(Glibc)
import Glibc
#endif

/// The controller's side of the zygote (`pxsh engine --zygote`, see PxEngine's `Zygote`): forked at
/// the controller's start (else spawned at the first local engine launch), it forks every engine
/// from a Python that has already started.
///
/// Any failure (the zygote could not start Python, died, or does not answer) retires it, and engines
/// are then spawned one by one as before, so a broken zygote costs speed, never an engine.
final class EngineZygote {
    private var process: (pid: pid_t, control: FileDescriptor)?
    private var isRetired = false

    /// Takes a zygote already started (forked at the controller's start) instead of spawning one.
    func adopt(_ started: (pid: pid_t, control: FileDescriptor)) {
        process = started
    }

    /// How long a fork may take, including the zygote's own start of Python the first time.
    static let answerMilliseconds: Int32 = 30_000
    static let window = 32

    var pid: pid_t? { process?.pid }

    /// Forks each request's engine with the two descriptors as its fds 1 and 2; every request is
    /// sent before the first answer is read.
    ///
    /// - Returns: each engine's pid (a child of this process once this returns), or nil where there
    ///   is no working zygote and the caller should spawn the engine itself.
    func fork(
        _ requests: [(ForkRequest, output: FileDescriptor, errorOutput: FileDescriptor)],
        start: () throws -> (pid: pid_t, control: FileDescriptor)
    ) -> [pid_t?] {
        let none = [pid_t?](repeating: nil, count: requests.count)
        guard !isRetired else { return none }
        if process == nil {
            do { process = try start() } catch {
                retire()
                return none
            }
        }
        // Descriptors in flight count against a per-user limit: send at most so many at a time.
        if requests.count > EngineZygote.window {
            return stride(from: 0, to: requests.count, by: EngineZygote.window).flatMap {
                fork(Array(requests[$0..<min($0 + EngineZygote.window, requests.count)]), start: start)
            }
        }
        guard let (_, control) = process else { return none }
        var sent = 0
        for (request, output, errorOutput) in requests {
            guard (try? control.send(request.bytes, passing: [output, errorOutput])) != nil else { break }
            sent += 1
        }
        var pids: [pid_t?] = []
        let deadline = Deadline(milliseconds: Int(EngineZygote.answerMilliseconds))
        answers: while pids.count < sent {
            guard let ready = try? Poll.wait([(control, .readable)], timeoutMilliseconds: 100) else { break }
            if ready[0].isEmpty {
                // A controller asked to stop (Ctrl-C of `pxsh cluster start`) stops waiting for a slow zygote.
                if deadline.hasPassed || ShutdownSignal.isRequested { break }
                continue
            }
            switch (try? control.receive(maximumCount: 8).bytes).flatMap(ForkReply.init(bytes:)) {
            case .forked(let pid): pids.append(pid)
            case .failed: pids.append(nil)  // This one is spawned instead; the zygote goes on.
            case nil: break answers  // Gone, or out of step.
            }
        }
        if pids.count < requests.count { retire() }
        return pids + none.dropFirst(pids.count)
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

    private func retire() {
        isRetired = true
        stop()
    }
}
