import CPxSys

#if canImport(Glibc)
import Glibc
#endif

// MARK: - What the kernel says about a descriptor

extension FileDescriptor {
    /// The width in columns of the terminal on this descriptor; nil if it is not a terminal.
    /// The corresponding C call is `ioctl(TIOCGWINSZ)`.
    public var terminalWidth: Int? {
        let width = Int(pxsys_terminal_width(rawValue))
        return width > 0 ? width : nil
    }

    /// Bytes written to the pipe behind this descriptor and not yet read; nil if unknown.
    /// The corresponding C call is `ioctl(FIONREAD)`.
    public var unreadByteCount: Int? {
        let count = Int(pxsys_unread_bytes(rawValue))
        return count >= 0 ? count : nil
    }

    /// The uid and pid of the process at the other end of a Unix-domain socket, as the kernel
    /// reports them. The corresponding C call is `getsockopt(SO_PEERCRED)`.
    public func peerCredentials() throws -> PeerCredentials {
        var uid: uid_t = 0
        var pid: pid_t = 0
        guard pxsys_peer_credentials(rawValue, &uid, &pid) == 0 else { throw SystemError("SO_PEERCRED") }
        return PeerCredentials(uid: uid, pid: pid)
    }
}

/// The process at the other end of a local connection.
public struct PeerCredentials: Equatable, Sendable {
    public var uid: uid_t
    public var pid: pid_t
}
