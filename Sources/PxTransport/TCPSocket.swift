import CPxSys

#if canImport(Glibc)
import Glibc
#endif

/// TCP stream sockets, for engines on other hosts: listening, connecting, and the options that
/// make a dead peer show up within seconds.
public enum TCPSocket {
    /// Listens on `address` and `port` (0: a free port), non-blocking and close-on-exec.
    /// The corresponding C functions are `getaddrinfo`, `bind` and `listen`.
    ///
    /// - Returns: the listening descriptor and the port it is bound to.
    public static func listen(address: String, port: Int) throws -> (descriptor: FileDescriptor, port: Int) {
        var bound: Int32 = 0
        let fd = pxsys_tcp_listen(address, Int32(port), &bound)
        guard fd >= 0 else { throw SystemError("listen on \(address):\(port)") }
        return (FileDescriptor(rawValue: fd), Int(bound))
    }

    /// Connects to `address`:`port` within `timeoutMilliseconds`, and configures the connection
    /// (``configure(_:)``). The corresponding C function is `connect`.
    public static func connect(address: String, port: Int, timeoutMilliseconds: Int = 10_000) throws -> FileDescriptor {
        let fd = pxsys_tcp_connect(address, Int32(port), Int32(timeoutMilliseconds))
        guard fd >= 0 else { throw SystemError("connect to \(address):\(port)") }
        let descriptor = FileDescriptor(rawValue: fd)
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
    /// cut link ends the connection within seconds). The corresponding C function is `setsockopt`.
    public static func configure(_ descriptor: FileDescriptor) {
        _ = pxsys_tcp_configure(descriptor.rawValue)
    }

    /// The numeric address of the peer, such as "10.1.0.2"; "?" if unknown.
    /// The corresponding C functions are `getpeername` and `getnameinfo`.
    public static func peerAddress(of descriptor: FileDescriptor) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        guard pxsys_peer_address(descriptor.rawValue, &buffer, buffer.count) == 0 else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
