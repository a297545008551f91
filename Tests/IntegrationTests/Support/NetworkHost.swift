import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Another "host" on this machine: a network namespace joined to this one by a veth pair, each end
/// with its own address (`ip netns add`, `ip link add ... type veth`). Needs root and iproute2
/// (scripts/install-deps.sh installs it).
///
/// Names carry the test process's pid and a counter, so concurrent runs never collide, and
/// ``remove()`` (also run by `deinit`) deletes the namespace and both ends of the pair.
final class NetworkHost {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The namespace, e.g. "pxt-4242-1".
    let namespace: String
    /// The veth end on this side; `ip link set DEV down` cuts the link.
    let localDevice: String
    /// Addresses of this side (where the controller listens) and of the namespace.
    let localAddress: String
    let address: String
    private var isRemoved = false

    static let ip: String =
        ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { access($0, X_OK) == 0 }
        ?? "ip"

    private nonisolated(unsafe) static var counter = 0
    private static let lock = TestLock()

    /// Creates a namespace with a link to this one.
    ///
    /// - Throws: ``Failure`` with `ip`'s own message when it cannot (not root, no iproute2).
    init() throws {
        let index = NetworkHost.lock.withLock {
            NetworkHost.counter += 1
            return NetworkHost.counter
        }
        let pid = Int(getpid())
        namespace = "pxt-\(pid)-\(index)"
        // Interface names are at most 15 characters.
        localDevice = "pxa\(pid % 100_000)x\(index)"
        let peerDevice = "pxb\(pid % 100_000)x\(index)"
        // A /30 of its own in 10.0.0.0/8 (chosen at random, so that concurrent runs hardly ever meet).
        let block = UInt32.random(in: 1..<(1 << 22)) << 2
        let base = (10 << 24) | block
        func dotted(_ value: UInt32) -> String {
            "\(value >> 24).\((value >> 16) & 255).\((value >> 8) & 255).\(value & 255)"
        }
        localAddress = dotted(base + 1)
        address = dotted(base + 2)
        do {
            try NetworkHost.run(["netns", "add", namespace])
            try NetworkHost.run(["link", "add", localDevice, "type", "veth", "peer", "name", peerDevice])
            try NetworkHost.run(["link", "set", peerDevice, "netns", namespace])
            try NetworkHost.run(["addr", "add", localAddress + "/30", "dev", localDevice])
            try NetworkHost.run(["link", "set", localDevice, "up"])
            try NetworkHost.run(["-n", namespace, "addr", "add", address + "/30", "dev", peerDevice])
            try NetworkHost.run(["-n", namespace, "link", "set", peerDevice, "up"])
            try NetworkHost.run(["-n", namespace, "link", "set", "lo", "up"])
        } catch {
            remove()
            throw error
        }
    }

    deinit { remove() }

    /// Deletes the namespace (which takes its end of the pair) and this side's end.
    func remove() {
        guard !isRemoved else { return }
        isRemoved = true
        _ = try? NetworkHost.run(["netns", "del", namespace])
        _ = try? NetworkHost.run(["link", "del", localDevice])
    }

    /// Makes the link the namespace's default route, as a host's uplink is.
    func routeByDefaultThroughTheLink() throws {
        try NetworkHost.run(["-n", namespace, "route", "add", "default", "via", localAddress])
    }

    /// Cuts the link: packets stop both ways, and no one is told.
    func cutLink() throws {
        try NetworkHost.run(["link", "set", localDevice, "down"])
    }

    /// `pxsh ARGUMENTS` inside the namespace, with the test environment of `token` and `environment`.
    func startPxsh(
        _ arguments: [String],
        token: String,
        input: String? = nil,
        environment: [String: String] = [:]
    ) throws -> ChildProcess {
        try ChildProcess(
            executable: NetworkHost.ip,
            arguments: ["netns", "exec", namespace, Pxsh.executable] + arguments,
            environment: Pxsh.environment(token: token).merging(environment) { $1 },
            input: input
        )
    }

    /// Runs `ip ARGUMENTS`.
    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let child = try ChildProcess(executable: ip, arguments: arguments, input: "")
        let status = child.waitForExit(timeout: 30)
        guard status == .exited(0) else {
            throw Failure(description: "ip \(arguments.joined(separator: " ")): \(status)\n\(child.stderr)")
        }
        return child.stdout
    }
}

/// A plain lock for test support state.
final class TestLock: @unchecked Sendable {
    private var lock = pthread_mutex_t()
    init() { pthread_mutex_init(&lock, nil) }
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return try body()
    }
}
