import PxPlatform

/// TCP stream sockets, for engines on other hosts: listening, connecting, and the options that
/// make a dead peer show up within seconds.
public enum TCPSocket {
    /// Listens on `address` and `port` (0: a free port), non-blocking and close-on-exec.
    ///
    /// - Returns: the listening descriptor and the port it is bound to.
    public static func listen(address: String, port: Int) throws -> (descriptor: FileDescriptor, port: Int) {
        try FileDescriptor.listenTCP(address: address, port: port)
    }

    /// Connects to `address`:`port` within `timeoutMilliseconds`, and configures the connection
    /// (``configure(_:)``).
    public static func connect(address: String, port: Int, timeoutMilliseconds: Int = 10_000) throws -> FileDescriptor {
        let descriptor = try FileDescriptor.connectTCP(
            address: address,
            port: port,
            timeoutMilliseconds: timeoutMilliseconds
        )
        configure(descriptor)
        return descriptor
    }

    /// Accepts one pending connection, close-on-exec and configured; nil when none is pending.
    public static func accept(_ listener: FileDescriptor) throws -> FileDescriptor? {
        guard let descriptor = try UnixSocket.accept(listener) else { return nil }
        configure(descriptor)
        return descriptor
    }

    /// TCP_NODELAY (small frames go out at once), keepalive and a user timeout (a silent peer or a
    /// cut link ends the connection within seconds).
    public static func configure(_ descriptor: FileDescriptor) {
        descriptor.configureTCP()
    }

    /// The numeric address of the peer, such as "10.1.0.2"; "?" if unknown.
    public static func peerAddress(of descriptor: FileDescriptor) -> String {
        descriptor.peerAddress ?? "?"
    }
}
