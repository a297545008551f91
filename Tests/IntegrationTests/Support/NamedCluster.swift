import PxPlatform
import PxTransport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A named cluster started with `pxsh cluster start`, for tests that attach to it.
final class NamedCluster: Sendable {
    let name: String
    /// The directory that holds its socket, description and logs.
    let directory: String
    /// The token in the environment of the `pxsh cluster start` that made it, which its processes inherit.
    let token: String

    var socketPath: String { ClusterLayout(directory: directory).socketPath }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private init(name: String, directory: String, token: String) {
        self.name = name
        self.directory = directory
        self.token = token
    }

    /// Starts a named cluster with a name no other run uses (or `name`), on this host or `inside` another.
    static func start(
        engines: Int,
        prefix: String = "it",
        name: String? = nil,
        extra: [String] = [],
        inside host: NetworkHost? = nil
    ) throws
        -> NamedCluster
    {
        let name = name ?? "\(prefix)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let run = try Pxsh.run(
            ["cluster", "start", "--name", name, "-n", String(engines)] + extra,
            timeout: 120,
            inside: host
        )
        // "cluster 'NAME' started: 4 engines in /tmp/pxsh-0/clusters/NAME" ("1 engine in" for one)
        guard run.status == .exited(0), let range = run.stdout.firstRange(of: " in /") else {
            _ = try? Pxsh.run(["cluster", "stop", "--name", name])
            throw Failure(description: "`pxsh cluster start` failed:\n\(run.transcript)")
        }
        let directory = "/" + run.stdout[range.upperBound...].trimming("\n ")
        return NamedCluster(name: name, directory: directory, token: run.token)
    }

    /// `pxsh --cluster NAME -c SCRIPT`.
    func script(_ script: String, timeout: Double = 90) throws -> PxshRun {
        try Pxsh.run(["--cluster", name, "-c", script], timeout: timeout)
    }

    /// Its controller process, found by the token it inherited.
    var controllerPID: pid_t? {
        let controllers = ProcessTable.processes(withToken: "PXSH_IT_TOKEN=\(token)").filter {
            $0.isAlive && $0.commandLine.contains(" controller ")
        }
        return controllers.count == 1 ? controllers[0].pid : nil
    }

    /// Stops it, and returns the processes of it that still run 10 s later (none, if all is well).
    @discardableResult
    func stop() -> (run: PxshRun?, leftovers: [ProcessTable.Entry]) {
        let run = try? Pxsh.run(["cluster", "stop", "--name", name], timeout: 60)
        let leftovers = Pxsh.leftoverProcesses(token: token, pxshPID: nil)
        // Whatever still runs would outlive the test run: end it.
        for entry in leftovers { kill(entry.pid, SIGKILL) }
        // A stop that failed keeps the directory and its logs; a test's cluster leaves nothing behind.
        TemporaryDirectory.removeTree(directory)
        return (run, leftovers)
    }

    /// Stops the cluster and expects the stop to succeed and to leave nothing running.
    func expectCleanStop(sourceLocation: SourceLocation = #_sourceLocation) {
        let (stop, leftovers) = self.stop()
        #expect(stop?.status == .exited(0), "\(stop?.transcript ?? "")", sourceLocation: sourceLocation)
        #expect(leftovers.isEmpty, "left behind: \(leftovers)", sourceLocation: sourceLocation)
    }

    /// The last lines of its controller's log, for failure messages.
    var controllerLog: String {
        let bytes = (try? FileDescriptor.readAll(ClusterLayout(directory: directory).controllerLogPath)) ?? []
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: - Sharing one cluster across a suite

    /// The cluster of the enclosing suite's ``SharedClusterTrait``.
    @TaskLocal static var shared: NamedCluster?

    /// The suite's shared cluster; fails the test if the suite has none.
    static func current(sourceLocation: SourceLocation = #_sourceLocation) throws -> NamedCluster {
        try #require(shared, "the suite needs the .sharedCluster(engines:) trait", sourceLocation: sourceLocation)
    }
}

/// Starts one named cluster for a whole suite and stops it afterwards: `@Suite(.sharedCluster(engines: 4))`.
///
/// Its tests reach it with ``NamedCluster/current(sourceLocation:)``. Use it only for tests that leave
/// the engines as they found them (no restarts, no kills), and give variables names unique to the test.
struct SharedClusterTrait: SuiteTrait, TestScoping {
    let engines: Int

    func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        let cluster = try NamedCluster.start(engines: engines)
        defer {
            let (_, leftovers) = cluster.stop()
            #expect(leftovers.isEmpty, "`pxsh cluster stop` left \(leftovers.map(\.description))")
        }
        try await NamedCluster.$shared.withValue(cluster) { try await function() }
    }
}

extension Trait where Self == SharedClusterTrait {
    static func sharedCluster(engines: Int) -> Self { SharedClusterTrait(engines: engines) }
}

extension StringProtocol {
    func trimming(_ characters: String) -> String {
        let set = Set(characters)
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
