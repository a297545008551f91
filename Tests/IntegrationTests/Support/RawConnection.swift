import PxPlatform

#if canImport(Glibc)
import Glibc
#endif

/// A bare Unix-domain stream connection, for writing bytes no pxsh client would send.
///
/// It deliberately does not use pxsh's own transport, so that it can say things the codec never would.
final class RawConnection {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private var fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            Glibc.close(fd)
            throw Failure(description: "socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard status == 0 else {
            let why = String(cString: strerror(errno))
            Glibc.close(fd)
            throw Failure(description: "connect \(path): \(why)")
        }
    }

    /// A TCP connection to `address`:`port` (IPv4).
    init(address: String, port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var address4 = sockaddr_in()
        address4.sin_family = sa_family_t(AF_INET)
        address4.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, address, &address4.sin_addr) == 1 else {
            Glibc.close(fd)
            throw Failure(description: "not an IPv4 address: \(address)")
        }
        let status = withUnsafePointer(to: &address4) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard status == 0 else {
            let why = String(cString: strerror(errno))
            Glibc.close(fd)
            throw Failure(description: "connect \(address):\(port): \(why)")
        }
    }

    deinit { close() }

    /// Reads what arrives within `timeout` seconds, until `count` bytes are in or the peer closes.
    func receive(count: Int, timeout: Double) -> [UInt8] {
        let deadline = Deadline(seconds: timeout)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < count && !deadline.hasPassed {
            var item = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&item, 1, 50) > 0 else { continue }
            let received = recv(fd, &buffer, min(buffer.count, count - bytes.count), 0)
            if received <= 0 { break }
            bytes += buffer[0..<received]
        }
        return bytes
    }

    /// Writes all of `bytes`; returns false if the peer closed the connection first.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                Glibc.send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    /// Whether the peer closes the connection within `timeout` seconds (anything it sends first is discarded).
    func isClosedByPeer(within timeout: Double) -> Bool {
        let deadline = Deadline(seconds: timeout)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !deadline.hasPassed {
            var item = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&item, 1, 50) > 0 else { continue }
            let count = recv(fd, &buffer, buffer.count, 0)
            if count == 0 { return true }
            if count < 0 && errno != EINTR && errno != EAGAIN { return true }
        }
        return false
    }

    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }
}

/// Frames as pxsh's wire format lays them out, built by hand: `u32 length` (of what follows), then
/// `u8 kind, u8 op, u16 flags, i32 engine, u64 id, u32 segment count`, then each segment as `u32 length`
/// and its bytes; all little-endian.
enum WireBytes {
    static func frame(kind: UInt8, op: UInt8 = 0, engine: Int32 = -2, id: UInt64 = 0, segments: [[UInt8]]) -> [UInt8] {
        var body: [UInt8] = [kind, op, 0, 0]
        body += littleEndian(UInt32(bitPattern: engine))
        body += littleEndian(id)
        body += littleEndian(UInt32(segments.count))
        for segment in segments {
            body += littleEndian(UInt32(segment.count))
            body += segment
        }
        return littleEndian(UInt32(body.count)) + body
    }

    /// The handshake a client sends first.
    static func clientHello(version: Int = 1) -> [UInt8] {
        frame(kind: 1, segments: ["pxsh", String(version), "client", String(getpid())].map { Array($0.utf8) })
    }

    static func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }
}
