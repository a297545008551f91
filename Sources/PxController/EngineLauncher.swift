import PxTransport

#if canImport(Glibc)
    import Glibc
#endif

/// Starts engine processes on this machine and stops them.
///
/// Each engine is a `pxsh engine` child in a process group of its own, so that signals aimed at it
/// (interrupts, kills) also reach what it started, and never the terminal's foreground group.
struct EngineLauncher {
    let options: ControllerOptions
    let executable = ProcessSpawner.currentExecutable

    func logPath(of engine: Int32) -> String {
        options.directory + (engine == -1 ? "/engine-home.log" : "/engine-\(engine).log")
    }

    /// Starts engine `id` with `rank`; returns its pid.
    func launch(id: Int32, rank: Int, size: Int) throws -> pid_t {
        let log = try FileDescriptor.open(logPath(of: id), flags: O_WRONLY | O_CREAT | O_APPEND)
        defer { log.close() }
        var arguments = [
            "engine", "--socket", options.socketPath, "--id=\(id)", "--rank", String(rank), "--size", String(size),
            "--libpython", options.libraryPath, "--program-name", options.pythonExecutable,
        ]
        if id == -1 { arguments.append("--home") }
        let devNull = try FileDescriptor.open("/dev/null", flags: O_RDONLY)
        defer { devNull.close() }
        return try ProcessSpawner.spawn(executable, arguments: arguments, output: log, standardInput: devNull)
    }

    /// Sends `signal` to the engine and everything it started.
    func signal(_ pid: pid_t, _ signal: Int32) {
        if kill(-pid, signal) != 0 { kill(pid, signal) }
    }

    /// The last lines of an engine's log, to explain why it died.
    func logTail(of engine: Int32, lines: Int = 3) -> String {
        guard var bytes = try? FileDescriptor.readAll(logPath(of: engine)) else { return "" }
        if bytes.count > 1 << 16 { bytes.removeFirst(bytes.count - (1 << 16)) }
        let text = String(decoding: bytes, as: UTF8.self)
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}
