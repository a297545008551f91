#if canImport(Glibc)
import Glibc
#endif

/// Waiting for descriptors to become readable or writable. The corresponding C function is `poll`.
public enum Poll {
    public struct Events: OptionSet, Sendable {
        public let rawValue: Int16
        public init(rawValue: Int16) { self.rawValue = rawValue }
        public static let readable = Events(rawValue: Int16(POLLIN))
        public static let writable = Events(rawValue: Int16(POLLOUT))
        /// Hang-up or error: the peer is gone. Always reported, never asked for.
        public static let closed = Events(rawValue: Int16(POLLHUP | POLLERR | POLLNVAL))
    }

    /// Waits until one of `descriptors` is ready or `timeoutMilliseconds` pass (-1: no limit).
    /// Returns the ready events of each, in order. An interrupted wait returns all-empty events.
    public static func wait(
        _ descriptors: [(FileDescriptor, Events)],
        timeoutMilliseconds: Int32
    ) throws -> [Events] {
        var fds = descriptors.map { pollfd(fd: $0.0.rawValue, events: $0.1.rawValue, revents: 0) }
        let count = Glibc.poll(&fds, nfds_t(fds.count), timeoutMilliseconds)
        if count < 0 {
            if errno == EINTR { return Array(repeating: [], count: fds.count) }
            throw SystemError("poll")
        }
        return fds.map { Events(rawValue: $0.revents) }
    }

    /// Blocks until `descriptor` has input or has been closed, retrying on EINTR.
    ///
    /// A blocking `read` on a Unix stream socket would wait too, but its waiter is also woken each
    /// time the peer takes in what this side wrote (the kernel signals write space on the socket's
    /// one wait queue): an engine woke twice per task, and the reader of its reply paid for waking
    /// it. A `poll` for input only is not woken by that.
    public static func waitUntilReadable(_ descriptor: FileDescriptor) throws {
        var fd = pollfd(fd: descriptor.rawValue, events: Int16(POLLIN), revents: 0)
        while Glibc.poll(&fd, 1, -1) < 0 {
            if errno != EINTR { throw SystemError("poll") }
        }
    }
}
