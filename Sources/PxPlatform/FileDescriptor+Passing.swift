import CPxSys

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Passing descriptors between processes

extension FileDescriptor {
    /// Two connected Unix stream sockets, both close-on-exec. The corresponding C function is `socketpair`.
    public static func socketPair() throws -> (FileDescriptor, FileDescriptor) {
        var fds: [Int32] = [0, 0]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else { throw SystemError("socketpair") }
        return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
    }

    /// Sends `bytes` in one message with up to 4 `descriptors` attached (the receiver gets copies;
    /// the caller still owns and closes these). Wraps `sendmsg` with `SCM_RIGHTS`.
    public func send(_ bytes: [UInt8], passing descriptors: [FileDescriptor] = []) throws {
        let fds = descriptors.map(\.rawValue)
        let sent = bytes.withUnsafeBytes { buffer in
            pxsys_send_with_fds(rawValue, buffer.baseAddress, buffer.count, fds, Int32(fds.count))
        }
        guard sent == bytes.count else { throw SystemError("sendmsg", code: sent < 0 ? errno : EMSGSIZE) }
    }

    /// Receives one message of at most `maximumCount` bytes and the descriptors attached to it, which
    /// the caller then owns. Empty bytes mean the peer closed. Wraps `recvmsg` with `SCM_RIGHTS`.
    public func receive(maximumCount: Int) throws -> (bytes: [UInt8], descriptors: [FileDescriptor]) {
        var bytes = [UInt8](repeating: 0, count: maximumCount)
        var fds: [Int32] = [-1, -1, -1, -1]
        var fdCount: Int32 = 0
        let count = bytes.withUnsafeMutableBytes { buffer in
            pxsys_receive_with_fds(rawValue, buffer.baseAddress, buffer.count, &fds, &fdCount)
        }
        guard count >= 0 else { throw SystemError("recvmsg") }
        return (Array(bytes[0..<count]), fds[0..<Int(fdCount)].map(FileDescriptor.init(rawValue:)))
    }
}
