import CPxSys

#if canImport(Glibc)
import Glibc
#endif

// MARK: - TCP sockets (engines on other hosts)

extension FileDescriptor {
    /// A listening TCP socket on `address` and `port` (0: a free port), non-blocking and close-on-exec,
    /// and the port it is bound to. The corresponding C functions are `getaddrinfo`, `bind` and `listen`.
    public static func listenTCP(address: String, port: Int) throws -> (descriptor: FileDescriptor, port: Int) {
        var bound: Int32 = 0
        let fd = pxsys_tcp_listen(address, Int32(port), &bound)
        guard fd >= 0 else { throw SystemError("listen on \(address):\(port)") }
        return (FileDescriptor(rawValue: fd), Int(bound))
    }

    /// A blocking TCP connection to `address`:`port`, made within `timeoutMilliseconds`.
    /// The corresponding C function is `connect`.
    public static func connectTCP(address: String, port: Int, timeoutMilliseconds: Int) throws -> FileDescriptor {
        let fd = pxsys_tcp_connect(address, Int32(port), Int32(timeoutMilliseconds))
        guard fd >= 0 else { throw SystemError("connect to \(address):\(port)") }
        return FileDescriptor(rawValue: fd)
    }

    /// TCP_NODELAY, keepalive (idle 5 s, every 2 s, 3 probes) and a 10 s TCP_USER_TIMEOUT.
    /// The corresponding C function is `setsockopt`.
    public func configureTCP() {
        _ = pxsys_tcp_configure(rawValue)
    }

    /// The numeric address of a connected socket's peer; nil if unknown.
    /// The corresponding C functions are `getpeername` and `getnameinfo`.
    public var peerAddress: String? {
        var buffer = [CChar](repeating: 0, count: 64)
        guard pxsys_peer_address(rawValue, &buffer, buffer.count) == 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
