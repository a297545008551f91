import PxPlatform

#if canImport(Glibc)
import Glibc
#endif

/// A program started by a test, with its standard input, output and error on sockets the test holds.
///
/// Everything is synchronous and driven by the caller: output is read while the caller waits for it
/// (`waitForOutput`, `waitForExit`), with a deadline that only bounds a hang. The child runs in a
/// process group of its own, so no signal meant for it (or sent by it to its group) reaches the test runner.
///
///     let child = try ChildProcess(executable: "/bin/cat", arguments: [])
///     child.write("hello\n")
///     _ = try child.waitForOutput(timeout: 10) { $0.contains("hello") }
///     child.closeInput()
///     let exit = child.waitForExit(timeout: 10)
final class ChildProcess {
    /// How a child ended.
    enum Termination: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)
        /// It did not end before the deadline; it was killed with SIGKILL.
        case timedOut

        var description: String {
            switch self {
            case .exited(let status): "exit status \(status)"
            case .signaled(let signal): "signal \(signal)"
            case .timedOut: "timed out (killed)"
            }
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let pid: pid_t
    let commandLine: String
    private(set) var stdoutBytes: [UInt8] = []
    private(set) var stderrBytes: [UInt8] = []
    private(set) var termination: Termination?
    private var input: Int32
    private var outputs: [Int32]

    /// Starts `executable`.
    ///
    /// - Parameters:
    ///   - environment: the complete environment of the child; nil inherits the test's.
    ///   - input: bytes written to its standard input up front; nil keeps standard input open for ``write(_:)``.
    init(
        executable: String,
        arguments: [String],
        environment: [String: String]? = nil,
        input text: String? = nil
    )
        throws
    {
        commandLine = ([executable] + arguments).joined(separator: " ")
        // Socket pairs made close-on-exec atomically: other suites spawn processes concurrently, and a
        // descriptor leaked into one of them would keep our end from ever seeing end-of-file.
        let stdinPair = try ChildProcess.socketPair()
        let stdoutPair = try ChildProcess.socketPair()
        let stderrPair = try ChildProcess.socketPair()

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPair.1, 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPair.1, 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPair.1, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signal in [SIGINT, SIGTERM, SIGPIPE, SIGCHLD, SIGHUP, SIGQUIT] { sigaddset(&defaultSignals, signal) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes,
            Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
        )

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let variables = environment.map { $0.map { "\($0.key)=\($0.value)" } }
        let envp = variables.map { $0.map { strdup($0) } + [nil] }
        defer { for pointer in envp ?? [] { free(pointer) } }

        var pid: pid_t = 0
        let status: Int32
        if let envp {
            status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        } else {
            status = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        }
        for fd in [stdinPair.1, stdoutPair.1, stderrPair.1] { close(fd) }
        guard status == 0 else {
            for fd in [stdinPair.0, stdoutPair.0, stderrPair.0] { close(fd) }
            throw Failure(description: "cannot start \(executable): \(String(cString: strerror(status)))")
        }
        self.pid = pid
        self.input = stdinPair.0
        self.outputs = [stdoutPair.0, stderrPair.0]
        for fd in outputs { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        if let text {
            write(text)
            closeInput()
        }
    }

    deinit {
        if termination == nil {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
        closeInput()
        for fd in outputs where fd >= 0 { close(fd) }
    }

    // MARK: - Input

    /// Writes `text` to the child's standard input (blocking until it is taken).
    func write(_ text: String) {
        guard input >= 0 else { return }
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { buffer in
                Glibc.send(input, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }

    /// Closes the child's standard input: it reads end-of-file.
    func closeInput() {
        guard input >= 0 else { return }
        close(input)
        input = -1
    }

    // MARK: - Output

    var stdout: String { String(decoding: stdoutBytes, as: UTF8.self) }
    var stderr: String { String(decoding: stderrBytes, as: UTF8.self) }
    var output: String { stdout + stderr }
    /// Both streams, stdout first: what a failure message should show.
    var transcript: String {
        "$ \(commandLine)\n--- stdout\n\(stdout)--- stderr\n\(stderr)--- \(termination?.description ?? "running")"
    }

    /// Reads output until `condition` holds for stdout, the child exits, or `timeout` seconds pass.
    ///
    /// - Returns: stdout so far.
    /// - Throws: ``Failure`` when the condition did not come true.
    @discardableResult
    func waitForOutput(timeout: Double, _ condition: (String) -> Bool) throws -> String {
        let deadline = Deadline(seconds: timeout)
        while true {
            drain()
            if condition(stdout) { return stdout }
            if termination != nil {
                throw Failure(description: "the process ended before the expected output:\n\(transcript)")
            }
            if deadline.hasPassed {
                throw Failure(description: "no expected output within \(timeout) s:\n\(transcript)")
            }
            pump(milliseconds: 50)
            reap()
        }
    }

    /// Waits for the child to exit, reading its output meanwhile; kills it after `timeout` seconds.
    @discardableResult
    func waitForExit(timeout: Double) -> Termination {
        let deadline = Deadline(seconds: timeout)
        while termination == nil {
            if deadline.hasPassed {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                _ = waitpid(pid, &status, 0)
                termination = .timedOut
                break
            }
            pump(milliseconds: 50)
            reap()
        }
        // All it wrote is buffered by now; its descendants may keep the sockets open, so do not wait for EOF.
        drain()
        return termination!
    }

    /// Sends `signal` to the child.
    func signal(_ signal: Int32) {
        if termination == nil { kill(pid, signal) }
    }

    // MARK: - Internals

    private func pump(milliseconds: Int32) {
        var fds = outputs.filter { $0 >= 0 }.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        guard !fds.isEmpty else {
            usleep(UInt32(milliseconds) * 1000)
            return
        }
        let ready = poll(&fds, nfds_t(fds.count), milliseconds)
        if ready > 0 { drain() }
    }

    /// Reads whatever is available without blocking.
    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        for index in outputs.indices where outputs[index] >= 0 {
            while true {
                let count = read(outputs[index], &buffer, buffer.count)
                if count > 0 {
                    if index == 0 {
                        stdoutBytes += buffer[0..<count]
                    } else {
                        stderrBytes += buffer[0..<count]
                    }
                    continue
                }
                if count < 0 && errno == EINTR { continue }
                if count == 0 {
                    close(outputs[index])
                    outputs[index] = -1
                }
                break
            }
        }
    }

    /// Whether it has ended (reaping it if so), without waiting.
    var hasExited: Bool {
        reap()
        return termination != nil
    }

    private func reap() {
        guard termination == nil else { return }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return }
        let signal = status & 0x7f
        termination = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
    }

    private static func socketPair() throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else {
            throw Failure(description: "socketpair: \(String(cString: strerror(errno)))")
        }
        return (fds[0], fds[1])
    }
}

/// Polls `condition` about every 20 ms until it holds or `timeout` seconds pass (which only bounds a hang).
///
/// - Returns: whether it came true.
@discardableResult
func eventually(timeout: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Deadline(seconds: timeout)
    while true {
        if try condition() { return true }
        if deadline.hasPassed { return false }
        usleep(20_000)
    }
}
