import PxPlatform

#if canImport(Glibc)
import Glibc
#endif

/// Unix-domain stream sockets: listening, connecting, and who is on the other end.
public enum UnixSocket {
    /// The process at the other end of a connection, as the kernel reports it.
    public typealias PeerCredentials = PxPlatform.PeerCredentials

    /// Binds and listens at `path`, replacing a stale socket file there.
    /// The corresponding C functions are `socket`, `bind` and `listen`.
    public static func listen(at path: String, backlog: Int32 = 128) throws -> FileDescriptor {
        let fd = try makeSocket()
        unlink(path)
        do {
            try withAddress(path) { (address, length) in
                guard bind(fd.rawValue, address, length) == 0 else { throw SystemError("bind \(path)") }
            }
            guard Glibc.listen(fd.rawValue, backlog) == 0 else { throw SystemError("listen") }
        } catch {
            fd.close()
            throw error
        }
        return fd
    }

    /// Connects to the socket at `path`. The corresponding C function is `connect`.
    public static func connect(to path: String) throws -> FileDescriptor {
        let fd = try makeSocket()
        do {
            try withAddress(path) { (address, length) in
                while Glibc.connect(fd.rawValue, address, length) != 0 {
                    if errno == EINTR { continue }
                    throw SystemError("connect \(path)")
                }
            }
        } catch {
            fd.close()
            throw error
        }
        return fd
    }

    /// Accepts one pending connection, close-on-exec; nil when none is pending on a non-blocking listener.
    /// The corresponding C function is `accept`.
    public static func accept(_ listener: FileDescriptor) throws -> FileDescriptor? {
        while true {
            let fd = Glibc.accept(listener.rawValue, nil, nil)
            if fd >= 0 {
                let descriptor = FileDescriptor(rawValue: fd)
                descriptor.setCloseOnExec()
                return descriptor
            }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED { return nil }
            throw SystemError("accept")
        }
    }

    /// The uid and pid of the peer. The corresponding C call is `getsockopt(SO_PEERCRED)`.
    public static func peerCredentials(of fd: FileDescriptor) throws -> PeerCredentials {
        try fd.peerCredentials()
    }

    /// The longest path a socket address holds.
    public static let maximumPathLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    private static func makeSocket() throws -> FileDescriptor {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        return FileDescriptor(rawValue: fd)
    }

    private static func withAddress(
        _ path: String,
        _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> Void
    ) throws {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count <= maximumPathLength else {
            throw SystemError("socket path too long: \(path)", code: ENAMETOOLONG)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.size)
        var failure: (any Error)?
        withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                do { try body(address, length) } catch { failure = error }
            }
        }
        if let failure { throw failure }
    }
}
