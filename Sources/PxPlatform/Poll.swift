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
        var list = PollList()
        for (descriptor, events) in descriptors { list.append(descriptor, events) }
        try list.wait(timeoutMilliseconds: timeoutMilliseconds)
        return (0..<list.count).map { list.readyEvents(at: $0) }
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

/// The descriptors a loop polls turn after turn: built once, and between turns only the events
/// asked for change, so a turn allocates nothing.
public struct PollList {
    private var entries: [pollfd] = []

    public init() {}

    public var count: Int { entries.count }

    /// The descriptors, in order.
    public var descriptors: [FileDescriptor] { entries.map { FileDescriptor(rawValue: $0.fd) } }

    public mutating func append(_ descriptor: FileDescriptor, _ events: Poll.Events) {
        entries.append(pollfd(fd: descriptor.rawValue, events: events.rawValue, revents: 0))
    }

    /// What the next ``wait(timeoutMilliseconds:)`` waits for on the descriptor at `index`.
    public mutating func setEvents(_ events: Poll.Events, at index: Int) {
        entries[index].events = events.rawValue
    }

    /// What the last ``wait(timeoutMilliseconds:)`` found ready at `index`.
    public func readyEvents(at index: Int) -> Poll.Events {
        Poll.Events(rawValue: entries[index].revents)
    }

    /// Waits until a descriptor is ready or `timeoutMilliseconds` pass (-1: no limit). An interrupted
    /// wait leaves every descriptor with no ready events.
    public mutating func wait(timeoutMilliseconds: Int32) throws {
        let count = entries.withUnsafeMutableBufferPointer { buffer in
            Glibc.poll(buffer.baseAddress, nfds_t(buffer.count), timeoutMilliseconds)
        }
        guard count < 0 else { return }
        for index in entries.indices { entries[index].revents = 0 }
        if errno != EINTR { throw SystemError("poll") }
    }
}
