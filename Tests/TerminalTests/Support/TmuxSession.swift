#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A program running in a real terminal, driven through tmux: keys in, screen out.
///
/// Each session runs on a tmux server of its own (`tmux -L <unique name>`, with no configuration file), so it never
/// touches the user's tmux and tests cannot see each other. The pane stays on screen after the program exits, so a
/// test can still read its last output and its exit status.
///
/// The program runs under a small `/bin/sh` that writes its exit status to a file when it ends, because tmux 3.3 does
/// not always record a pane's exit status (it loses it when the terminal closes before the process is reaped). That
/// shell catches SIGINT and SIGQUIT and carries on, so only the program reacts to Ctrl-C, as it would on its own;
/// the program itself starts with default signal dispositions.
///
/// Wait for the screen with `waitForScreen(timeout:_:)`, never with sleeps: it polls about every 50 ms and the
/// timeout only bounds a hang.
///
///     let session = try TmuxSession(command: ["cat"], environment: [:])
///     defer { session.close() }
///     session.type("hello")
///     session.sendKeys("Enter")
///     try session.waitForScreen { $0.contains("hello") }
final class TmuxSession {
    /// The tmux server's socket name, unique to this session.
    let socketName: String

    /// The file where the shell around the program writes its exit status.
    private let exitStatusPath: String

    /// The server's socket file, which tmux leaves behind when the server is killed.
    private var socketPath: String?

    private static let sessionName = "main"
    private var isClosed = false

    /// Starts `command` in a new detached tmux session of `width` by `height` cells.
    ///
    /// - Parameters:
    ///   - command: The program and its arguments. They are passed as they are, never parsed by a shell.
    ///   - environment: Variables set for the program, on top of this process's environment (without `TMUX`).
    /// - Throws: `TmuxSession.Error` if tmux cannot be started.
    init(command: [String], environment: [String: String], width: Int = 100, height: Int = 30) throws {
        precondition(!command.isEmpty, "TmuxSession needs a command to run")
        socketName = "pxsh-test-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let temporaryDirectory = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        exitStatusPath = "\(temporaryDirectory)/\(socketName).status"
        // "$0" is the status file and "$@" the command: neither is ever parsed by the shell.
        let recordingExitStatus =
            ["/bin/sh", "-c", "trap : INT QUIT; \"$@\"; echo $? > \"$0\"", exitStatusPath] + command
        let environmentOptions = environment.sorted { $0.key < $1.key }.flatMap { ["-e", "\($0.key)=\($0.value)"] }
        // One tmux invocation, commands separated by ";". The options are set before the session exists, so that a
        // program that exits at once still leaves its pane.
        let commands: [[String]] = [
            ["start-server"],
            ["set-option", "-g", "remain-on-exit", "on"],
            ["set-option", "-g", "status", "off"],
            ["new-session", "-d", "-s", Self.sessionName, "-x", "\(width)", "-y", "\(height)"]
                + environmentOptions + ["--"] + recordingExitStatus,
        ]
        try run(Array(commands.joined(separator: [";"])))
        socketPath = try? run(["display-message", "-p", "#{socket_path}"]).filter { $0 != "\n" }
    }

    deinit {
        close()
    }

    // MARK: - Input

    /// Sends keys by their tmux names, such as `"C-c"`, `"Up"`, `"Tab"`, `"Enter"`, `"BSpace"`.
    func sendKeys(_ keys: String...) {
        // A failed send shows up as a timeout in the next waitForScreen, with the screen that explains it.
        _ = try? run(["send-keys", "-t", Self.sessionName] + keys)
    }

    /// Types `text` literally: nothing in it is taken for a key name.
    func type(_ text: String) {
        _ = try? run(["send-keys", "-t", Self.sessionName, "-l", "--", text])
    }

    /// Runs `command` with `sh` and, once it has ended, sends `keys`: one tmux command, so the keys follow the
    /// command's effect within a millisecond or so.
    func runShell(_ command: String, thenKeys keys: [String]) {
        _ = try? run(["run-shell", command, ";", "send-keys", "-t", Self.sessionName] + keys)
    }

    // MARK: - Output

    /// The visible screen, one line per row, trailing spaces removed.
    func screen() -> String {
        (try? run(["capture-pane", "-p", "-t", Self.sessionName])) ?? ""
    }

    /// The cursor's position on the screen, counted from 0.
    func cursorPosition() throws -> (column: Int, row: Int) {
        let output = try run(["display-message", "-p", "-t", Self.sessionName, "#{cursor_x} #{cursor_y}"])
        let fields = output.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        guard fields.count == 2 else { throw Error.unexpectedOutput(output) }
        return (fields[0], fields[1])
    }

    /// The program's exit status, or `nil` while it runs.
    ///
    /// A program ended by a signal reports 128 plus the signal's number, as shells do.
    func exitStatus() -> Int32? {
        guard let file = fopen(exitStatusPath, "r") else { return nil }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 16)
        guard fgets(&line, Int32(line.count), file) != nil else { return nil }
        // A status line still being written has no newline yet: wait for it.
        let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        guard text.hasSuffix("\n") else { return nil }
        return Int32(text.dropLast())
    }

    /// Polls the screen until `predicate` accepts it, and returns that screen.
    ///
    /// - Throws: `TmuxSession.Error.timedOut`, which shows the last screen, when `timeout` passes first.
    @discardableResult
    func waitForScreen(timeout: Duration = .seconds(20), _ predicate: (String) -> Bool) throws -> String {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            let current = screen()
            if predicate(current) {
                return current
            }
            guard clock.now < deadline else {
                throw Error.timedOut(after: timeout, lastScreen: current)
            }
            usleep(50_000)
        }
    }

    // MARK: - Teardown

    /// Ends the program and the private tmux server, and removes their files. Calling it again does nothing.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        _ = try? run(["kill-session", "-t", Self.sessionName])
        _ = try? run(["kill-server"])
        if let socketPath {
            unlink(socketPath)
        }
        unlink(exitStatusPath)
    }

    // MARK: - Running tmux

    /// Runs one tmux command on this session's server and returns what it printed.
    @discardableResult
    private func run(_ arguments: [String]) throws -> String {
        let fullArguments = ["tmux", "-L", socketName, "-f", "/dev/null"] + arguments
        let (status, output) = try ProgramRunner.spawnAndWait(fullArguments)
        guard status == 0 else {
            throw Error.commandFailed(arguments: fullArguments, status: status, output: output)
        }
        return output
    }
}

// MARK: - Running programs

/// Runs programs for `TmuxSession`, outside its scope so that `close` here is the system call.
private enum ProgramRunner {
    /// Runs a program found on `PATH`, waits for it, and returns its exit status and its merged stdout and stderr.
    ///
    /// `TMUX` and `TMUX_PANE` are removed from its environment, so that tests run inside tmux behave as outside.
    static func spawnAndWait(_ arguments: [String]) throws -> (status: Int32, output: String) {
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else { throw TmuxSession.Error.cannotSpawn(arguments: arguments, errno: errno) }
        defer { close(pipeEnds[0]) }
        // Tests run in parallel: a program spawned by another thread must not inherit this pipe and keep it open.
        for end in pipeEnds {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], STDOUT_FILENO)
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], STDERR_FILENO)
        posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
        posix_spawn_file_actions_addclose(&actions, pipeEnds[1])

        // The test runner may ignore or block signals, and exec keeps both. tmux would then inherit an ignored
        // SIGCHLD, lose its panes' exit statuses, and hand the same to the programs under test.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let environment = currentEnvironment().filter { !$0.hasPrefix("TMUX=") && !$0.hasPrefix("TMUX_PANE=") }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            for string in argv + envp {
                free(string)
            }
        }

        var pid = pid_t()
        let spawnError = posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, envp)
        close(pipeEnds[1])
        guard spawnError == 0 else { throw TmuxSession.Error.cannotSpawn(arguments: arguments, errno: spawnError) }

        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(pipeEnds[0], $0.baseAddress, $0.count) }
            if count > 0 {
                output.append(contentsOf: buffer[..<count])
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                break
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // The low 7 bits hold the terminating signal, if any; otherwise the exit code is in the next 8.
        let exitCode = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return (exitCode, String(decoding: output, as: UTF8.self))
    }

    /// This process's environment as `NAME=value` strings.
    private static func currentEnvironment() -> [String] {
        var strings: [String] = []
        // environ is NULL when the environment was cleared with clearenv().
        var entry: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = environ
        while let current = entry, let pointer = current.pointee {
            strings.append(String(cString: pointer))
            entry = current.advanced(by: 1)
        }
        return strings
    }
}

// MARK: - Errors

extension TmuxSession {
    /// Why driving tmux failed.
    enum Error: Swift.Error, CustomStringConvertible {
        /// The screen did not become what the test waited for.
        case timedOut(after: Duration, lastScreen: String)
        /// A tmux command exited with a non-zero status.
        case commandFailed(arguments: [String], status: Int32, output: String)
        /// tmux could not be started, usually because it is not installed.
        case cannotSpawn(arguments: [String], errno: Int32)
        /// tmux printed something this helper does not understand.
        case unexpectedOutput(String)

        var description: String {
            switch self {
            case .timedOut(let timeout, let lastScreen):
                let rows = lastScreen.split(separator: "\n", omittingEmptySubsequences: false)
                let lastUsedRow = rows.lastIndex { !$0.allSatisfy(\.isWhitespace) } ?? -1
                let shown = rows.prefix(lastUsedRow + 1).map { "| \($0)" }.joined(separator: "\n")
                return "Timed out after \(timeout) waiting for the screen. Last screen:\n\(shown)"
            case .commandFailed(let arguments, let status, let output):
                return "\(arguments.joined(separator: " ")) exited with status \(status): \(output)"
            case .cannotSpawn(let arguments, let errno):
                return "Cannot run \(arguments.joined(separator: " ")): \(String(cString: strerror(errno)))"
            case .unexpectedOutput(let output):
                return "Unexpected output from tmux: \(output)"
            }
        }
    }
}
