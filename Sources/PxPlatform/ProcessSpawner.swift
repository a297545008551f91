import CPxSys

#if canImport(Glibc)
import Glibc
#endif

/// Starting and reaping child processes.
public enum ProcessSpawner {
    /// How a child process ended.
    public enum Termination: Equatable, Sendable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        public var description: String {
            switch self {
            case .exited(let status): "exit status \(status)"
            case .signaled(let signal): "signal \(signal)\(Signals.name(of: signal).map { " (\($0))" } ?? "")"
            }
        }
    }

    /// Starts `executable` with `arguments` in a process group of its own (or a new session), so that
    /// a Ctrl-C meant for the terminal's foreground group never reaches it.
    ///
    /// - Parameters:
    ///   - environment: the child's environment; nil inherits this process's.
    ///   - output: descriptor for the child's stdout (and stderr, unless `errorOutput` is given); nil inherits ours.
    /// - Returns: the child's pid.
    public static func spawn(
        _ executable: String,
        arguments: [String],
        environment: [String]? = nil,
        output: FileDescriptor? = nil,
        errorOutput: FileDescriptor? = nil,
        standardInput: FileDescriptor? = nil,
        newSession: Bool = false
    ) throws -> pid_t {
        let errorOutput = errorOutput ?? output
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let envCopies = environment?.map { strdup($0) }
        defer { for pointer in envCopies ?? [] { free(pointer) } }
        let pid: pid_t
        if let envCopies {
            let envp = envCopies + [nil]
            pid = pxsys_spawn(
                executable,
                argv,
                envp,
                standardInput?.rawValue ?? -1,
                output?.rawValue ?? -1,
                errorOutput?.rawValue ?? -1,
                newSession ? 1 : 0
            )
        } else {
            pid = pxsys_spawn(
                executable,
                argv,
                pxsys_environment(),
                standardInput?.rawValue ?? -1,
                output?.rawValue ?? -1,
                errorOutput?.rawValue ?? -1,
                newSession ? 1 : 0
            )
        }
        guard pid > 0 else { throw SystemError("spawn \(executable)") }
        return pid
    }

    /// This process's environment (`NAME=value` entries) with `additions` for the names it does not set.
    public static func environment(adding additions: [String: String]) -> [String] {
        var entries: [String] = []
        var names = Set<String>()
        var entry = pxsys_environment()
        while let pointer = entry?.pointee {
            let text = String(cString: pointer)
            entries.append(text)
            names.insert(String(text.prefix { $0 != "=" }))
            entry = entry?.advanced(by: 1)
        }
        for (name, value) in additions.sorted(by: { $0.key < $1.key }) where !names.contains(name) {
            entries.append(name + "=" + value)
        }
        return entries
    }

    /// Reaps `pid` if it has ended, without waiting. The corresponding C function is `waitpid`.
    public static func reap(_ pid: pid_t) -> Termination? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        guard result == pid else { return nil }
        return termination(status)
    }

    /// Waits for `pid` to end.
    public static func wait(_ pid: pid_t) -> Termination? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, 0)
            if result == pid { return termination(status) }
            if result < 0 && errno == EINTR { continue }
            return nil
        }
    }

    /// Waits up to `milliseconds` for `pid` to end; nil if it has not.
    public static func wait(_ pid: pid_t, milliseconds: Int) -> Termination? {
        awaitEnd(of: pid, milliseconds: milliseconds) { _ in reap(pid) }
    }

    /// Waits up to `milliseconds` for `pid` to end, whether or not it is a child of this process: a
    /// child is reaped, any other process has ended once it is a zombie or gone.
    ///
    /// - Returns: whether it has ended.
    public static func waitUntilGone(_ pid: pid_t, milliseconds: Int) -> Bool {
        // A pidfd is readable once that very process has ended, child or not, even if its pid is
        // reused; where there is none, /proc is read.
        awaitEnd(of: pid, milliseconds: milliseconds) { exit in
            if reap(pid) != nil { return true }
            guard exit < 0 ? !ProcessTable.isAlive(pid) : isReadable(exit, waitingMilliseconds: 0) else { return nil }
            _ = reap(pid)  // a child that ended since the reap above
            return true
        } ?? false
    }

    /// Asks `ended` (given the pidfd of `pid`, or -1 where the kernel has none) until it answers or
    /// `milliseconds` pass; between asks, waits until the process ends (its pidfd is readable) or 2 ms pass.
    private static func awaitEnd<T>(of pid: pid_t, milliseconds: Int, _ ended: (Int32) -> T?) -> T? {
        let deadline = Deadline(milliseconds: milliseconds)
        let exit = pxsys_pidfd_open(pid)
        defer { if exit >= 0 { close(exit) } }
        while true {
            if let answer = ended(exit) { return answer }
            if deadline.hasPassed { return nil }
            if exit >= 0 {
                _ = isReadable(exit, waitingMilliseconds: max(1, deadline.pollTimeout))
            } else {
                usleep(2_000)
            }
        }
    }

    private static func isReadable(_ descriptor: Int32, waitingMilliseconds timeout: Int32) -> Bool {
        let ready = try? Poll.wait([(FileDescriptor(rawValue: descriptor), .readable)], timeoutMilliseconds: timeout)
        return ready?.first?.isEmpty == false
    }

    /// `command` itself if it contains a slash, else the first executable of that name on `PATH`.
    public static func findExecutable(_ command: String) -> String? {
        if command.contains("/") { return access(command, X_OK) == 0 ? command : nil }
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(command)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// The path of the running executable, so that pxsh can start its own hidden roles.
    public static var currentExecutable: String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func termination(_ status: Int32) -> Termination {
        // The WIFEXITED family are macros; these are their glibc definitions.
        let signal = status & 0x7f
        if signal == 0 { return .exited((status >> 8) & 0xff) }
        return .signaled(signal)
    }
}

// MARK: - Forking from a zygote

extension ProcessSpawner {
    /// Makes this process the parent of its orphaned descendants, so that processes its children
    /// fork off (``forkHandedOver(output:errorOutput:newSession:)``) are its own to signal and reap.
    /// The corresponding C call is `prctl(PR_SET_CHILD_SUBREAPER)`.
    public static func becomeSubreaper() throws {
        guard pxsys_set_child_subreaper() == 0 else { throw SystemError("prctl(PR_SET_CHILD_SUBREAPER)") }
    }

    /// Forks a process that the nearest subreaper adopts (a fork through a middle process that
    /// exits at once), in a process group of its own (with `newSession`, a session of its own), with
    /// /dev/null, `output` and `errorOutput` as its fds 0-2.
    ///
    /// - Returns: the new pid in the caller, nil in the new process.
    public static func forkHandedOver(
        output: FileDescriptor,
        errorOutput: FileDescriptor,
        newSession: Bool = false
    ) throws -> pid_t? {
        let pid = pxsys_fork_grandchild(output.rawValue, errorOutput.rawValue, newSession ? 1 : 0)
        if pid < 0 { throw SystemError("fork") }
        return pid == 0 ? nil : pid
    }
}

extension ProcessSpawner {
    /// Forks a copy of this process (which must have a single thread) with `standardInput`, `output`
    /// and `errorOutput` as its fds 0-2, none of the caller's other descriptors, every signal's
    /// default action (as after `spawn`), and a process group of its own.
    ///
    /// - Returns: the new pid in the caller, nil in the new process.
    public static func fork(
        standardInput: FileDescriptor,
        output: FileDescriptor,
        errorOutput: FileDescriptor
    ) throws -> pid_t? {
        let pid = pxsys_fork_with_descriptors(standardInput.rawValue, output.rawValue, errorOutput.rawValue)
        if pid < 0 { throw SystemError("fork") }
        return pid == 0 ? nil : pid
    }
}

extension ProcessSpawner {
    /// Forks a copy of this process (which must have a single thread) that keeps its descriptors,
    /// signal handlers and signal mask, in a process group of its own, so that a terminal's Ctrl-C
    /// reaches the caller only, which decides what the copy gets. The corresponding C function is `fork`.
    ///
    /// - Returns: the new pid in the caller, nil in the new process.
    public static func forkCopy() throws -> pid_t? {
        let pid = pxsys_fork_in_own_group()
        if pid < 0 { throw SystemError("fork") }
        return pid == 0 ? nil : pid
    }
}

extension ProcessSpawner {
    /// A child that has ended and awaits reaping (it is not reaped), if any.
    public static func firstExitedChild() -> pid_t? {
        let pid = pxsys_first_exited_child()
        return pid > 0 ? pid : nil
    }
}

extension ProcessSpawner {
    /// Makes `ps` show `words` as this process's command line (within the length of the original
    /// one), so that a forked process tells what it has become.
    public static func setCommandLine(_ words: [String]) {
        let copies = words.map { strdup($0) }
        defer { for copy in copies { free(copy) } }
        let pointers = copies.map { UnsafePointer($0) }
        _ = pxsys_set_command_line(CommandLine.unsafeArgv, CommandLine.argc, pointers, Int32(pointers.count))
    }
}
