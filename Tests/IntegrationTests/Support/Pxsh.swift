import PxPlatform
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real `pxsh` executable, run as a user runs it.
enum Pxsh {
    /// The `pxsh` built next to this test bundle (`swift test` builds it too), or `$PXSH_BINARY`.
    static let executable: String = {
        if let explicit = getenv("PXSH_BINARY").map({ String(cString: $0) }), !explicit.isEmpty {
            return explicit
        }
        var candidates: [String] = []
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if count > 0 {
            let path = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            candidates.append(directory(of: path) + "/pxsh")
        }
        candidates.append(directory(of: CommandLine.arguments[0]) + "/pxsh")
        // Tests/IntegrationTests/Support/Pxsh.swift -> the package root.
        let root = directory(of: directory(of: directory(of: directory(of: #filePath))))
        candidates.append(root + "/.build/debug/pxsh")
        return candidates.first { access($0, X_OK) == 0 } ?? candidates.last!
    }()

    /// Runs `pxsh ARGUMENTS` to completion, with `input` on its standard input (empty if nil).
    ///
    /// The run carries a token in its environment, so that ``PxshRun/leftoverProcesses(timeout:)``
    /// finds whatever it started.
    static func run(
        _ arguments: [String],
        input: String = "",
        timeout: Double = 90,
        setting variables: [String: String] = [:],
        inside host: NetworkHost? = nil
    ) throws -> PxshRun {
        let token = newToken()
        let child = try ChildProcess(
            executable: host == nil ? executable : NetworkHost.ip,
            arguments: host.map { ["netns", "exec", $0.namespace, executable] + arguments } ?? arguments,
            environment: environment(token: token).merging(variables) { $1 },
            input: input
        )
        let termination = child.waitForExit(timeout: timeout)
        return PxshRun(
            pid: child.pid,
            token: token,
            status: termination,
            stdout: child.stdout,
            stderr: child.stderr,
            transcript: child.transcript
        )
    }

    /// `pxsh -c SCRIPT` on a private cluster of `engines` engines.
    static func script(
        _ script: String,
        engines: Int = 4,
        extra: [String] = [],
        timeout: Double = 90
    ) throws
        -> PxshRun
    {
        try run(["-n", String(engines)] + extra + ["-c", script], timeout: timeout)
    }

    /// Starts `pxsh ARGUMENTS` and leaves it running, its standard input open for ``ChildProcess/write(_:)``.
    static func start(
        _ arguments: [String],
        setting variables: [String: String] = [:]
    ) throws -> (process: ChildProcess, token: String) {
        let token = newToken()
        let child = try ChildProcess(
            executable: executable,
            arguments: arguments,
            environment: environment(token: token).merging(variables) { $1 }
        )
        return (child, token)
    }

    /// The environment of every pxsh a test starts: the test's own, plain output, and the run's token.
    static func environment(token: String) -> [String: String] {
        var variables: [String: String] = [:]
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if let equals = text.firstIndex(of: "=") {
                variables[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            entry += 1
        }
        variables["NO_COLOR"] = "1"
        variables["PXSH_IT_TOKEN"] = token
        return variables
    }

    /// Processes of a pxsh run with `token` (the pxsh itself excluded once it has been reaped), as
    /// ``ProcessTable/Entry`` values, waiting up to `timeout` seconds for them to go away.
    static func leftoverProcesses(token: String, pxshPID: pid_t?, timeout: Double = 10) -> [ProcessTable.Entry] {
        let marker = pxshPID.map { "/private-\($0)-" }
        var alive: [ProcessTable.Entry] = []
        eventually(timeout: timeout) {
            alive = ProcessTable.processes(withToken: "PXSH_IT_TOKEN=\(token)", orCommandLineContaining: marker)
                .filter(\.isAlive)
            return alive.isEmpty
        }
        return alive
    }

    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }

    private static let counter = Counter()

    private static func newToken() -> String {
        "it-\(getpid())-\(counter.next())-\(UInt32.random(in: 0...UInt32.max))"
    }

    private final class Counter: @unchecked Sendable {
        private var value = 0
        private var lock = pthread_mutex_t()
        init() { pthread_mutex_init(&lock, nil) }
        func next() -> Int {
            pthread_mutex_lock(&lock)
            defer { pthread_mutex_unlock(&lock) }
            value += 1
            return value
        }
    }
}

/// What a finished pxsh run did.
struct PxshRun {
    let pid: pid_t
    let token: String
    let status: ChildProcess.Termination
    let stdout: String
    let stderr: String
    /// The command, both streams and the status, for failure messages.
    let transcript: String

    /// Everything it printed, stdout then stderr.
    var output: String { stdout + stderr }
    var lines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }

    /// The processes it started that still run, after waiting up to `timeout` seconds for them to exit.
    func leftoverProcesses(timeout: Double = 10) -> [ProcessTable.Entry] {
        Pxsh.leftoverProcesses(token: token, pxshPID: pid, timeout: timeout)
    }
}

/// Checks that a run ended with `status`, showing its whole transcript if not.
func expectStatus(
    _ run: PxshRun,
    _ status: ChildProcess.Termination,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(run.status == status, "\(run.transcript)", sourceLocation: sourceLocation)
}

/// Checks that nothing a private run started outlived it.
func expectNoLeftovers(_ run: PxshRun, sourceLocation: SourceLocation = #_sourceLocation) {
    let left = run.leftoverProcesses()
    #expect(
        left.isEmpty,
        "processes left behind by pxsh \(run.pid):\n\(left.map(\.description).joined(separator: "\n"))",
        sourceLocation: sourceLocation
    )
}
