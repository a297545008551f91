import CPxSys

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open file descriptor. A typed wrapper, so that business logic never passes bare integers.
///
/// It is a plain value: whoever creates one owns it and closes it exactly once.
public struct FileDescriptor: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let standardInput = FileDescriptor(rawValue: 0)
    public static let standardOutput = FileDescriptor(rawValue: 1)
    public static let standardError = FileDescriptor(rawValue: 2)

    public var description: String { "fd \(rawValue)" }

    /// Closes the descriptor. The corresponding C function is `close`.
    public func close() {
        _ = Glibc.close(rawValue)
    }

    /// Reads up to `buffer.count` bytes, retrying on EINTR. Returns 0 at end of file.
    /// The corresponding C function is `read`.
    public func read(
        into buffer: UnsafeMutableRawBufferPointer,
        retryOnInterrupt: Bool = true
    ) throws
        -> Int
    {
        while true {
            let count = Glibc.read(rawValue, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno == EINTR && retryOnInterrupt { continue }
            throw SystemError("read")
        }
    }

    /// Reads what has arrived on a non-blocking descriptor, without waiting.
    ///
    /// - Returns: the number of bytes read, 0 at end of file, or nil when nothing is there yet.
    /// - Throws: ``SystemError`` for a failed read (the peer is gone, say).
    public func readAvailable(into buffer: UnsafeMutableRawBufferPointer) throws -> Int? {
        while true {
            let count = Glibc.read(rawValue, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return nil }
            throw SystemError("read")
        }
    }

    /// Writes all of `bytes`, retrying on EINTR and short writes. The corresponding C function is `write`.
    public func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let count = Glibc.write(rawValue, bytes.baseAddress! + offset, bytes.count - offset)
            if count < 0 {
                if errno == EINTR { continue }
                throw SystemError("write")
            }
            offset += count
        }
    }

    public func writeAll(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { buffer in try writeAll(buffer) }
    }

    public func writeAll(_ text: String) throws {
        try writeAll(Array(text.utf8))
    }

    /// Sets or clears O_NONBLOCK.
    public func setNonBlocking(_ isNonBlocking: Bool) throws {
        guard pxsys_set_nonblocking(rawValue, isNonBlocking ? 1 : 0) == 0 else { throw SystemError("fcntl") }
    }

    /// Marks the descriptor close-on-exec, so children do not inherit it.
    public func setCloseOnExec() {
        _ = pxsys_set_cloexec(rawValue)
    }

    /// Duplicates onto `target`, closing what was there. The corresponding C function is `dup2`.
    public func duplicate(onto target: FileDescriptor) throws {
        guard dup2(rawValue, target.rawValue) >= 0 else { throw SystemError("dup2") }
    }

    /// A new descriptor for the same file, close-on-exec. The corresponding C function is `dup`.
    public func duplicate() throws -> FileDescriptor {
        let copy = dup(rawValue)
        guard copy >= 0 else { throw SystemError("dup") }
        let descriptor = FileDescriptor(rawValue: copy)
        descriptor.setCloseOnExec()
        return descriptor
    }

    /// Whether the descriptor is a terminal. The corresponding C function is `isatty`.
    public var isTerminal: Bool { isatty(rawValue) == 1 }

    /// The path of the terminal this descriptor is open on (`/dev/pts/3`), if it is one.
    public var terminalPath: String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard ttyname_r(rawValue, &buffer, buffer.count) == 0 else { return nil }
        return String(cString: buffer)
    }

    /// Opens a file. The corresponding C function is `open`; the descriptor is close-on-exec.
    public static func open(_ path: String, flags: Int32, mode: mode_t = 0o600) throws -> FileDescriptor {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SystemError("open \(path)") }
        return FileDescriptor(rawValue: fd)
    }

    /// The whole contents of the file at `path`.
    public static func readAll(_ path: String, limit: Int = .max) throws -> [UInt8] {
        let fd = try open(path, flags: O_RDONLY)
        defer { fd.close() }
        return try fd.readToEnd(limit: limit)
    }

    /// Reads until the end of the file; past `limit` bytes, stops and throws `EFBIG`.
    public func readToEnd(limit: Int = .max) throws -> [UInt8] {
        let fd = self
        var bytes: [UInt8] = []
        // A file's size known up front (shared memory, say) is read into one allocation of that
        // size, not into one that doubled, and copied itself, its way there.
        var status = stat()
        if fstat(fd.rawValue, &status) == 0 && status.st_size > 0 {
            bytes.reserveCapacity(min(Int(status.st_size), limit))
        }
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
            if bytes.count > limit { throw SystemError("read", code: EFBIG) }
        }
    }

    /// The last `count` lines of the file at `path` (read from its last 64 KiB); empty if unreadable.
    public static func lastLines(ofFile path: String, count: Int) -> String {
        guard let fd = try? open(path, flags: O_RDONLY) else { return "" }
        defer { fd.close() }
        return fd.lastLines(count: count)
    }

    /// The last `count` lines of the file open on this descriptor, read from its start (its last 64 KiB
    /// kept); empty if unreadable. The file may have been removed since it was opened: a log that its
    /// writer removed as it exited is still read whole.
    public func lastLines(count: Int) -> String {
        guard lseek(rawValue, 0, SEEK_SET) == 0, var bytes = try? readToEnd() else { return "" }
        if bytes.count > 1 << 16 { bytes.removeFirst(bytes.count - (1 << 16)) }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").suffix(count).joined(separator: "\n")
    }

    /// A pipe whose two ends are close-on-exec. The corresponding C function is `pipe`.
    public static func pipe() throws -> (read: FileDescriptor, write: FileDescriptor) {
        var fds: [Int32] = [0, 0]
        guard Glibc.pipe(&fds) == 0 else { throw SystemError("pipe") }
        let ends = (read: FileDescriptor(rawValue: fds[0]), write: FileDescriptor(rawValue: fds[1]))
        ends.read.setCloseOnExec()
        ends.write.setCloseOnExec()
        return ends
    }
}
