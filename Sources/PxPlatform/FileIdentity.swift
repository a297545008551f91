#if canImport(Glibc)
import Glibc
#endif

/// Which file a path names: its device and inode, as `lstat` gives them.
///
/// A process that made a file in a shared directory records its identity, so that it later removes
/// that file only if the path still names it, and never one that another process has put there since.
public struct FileIdentity: Equatable, Hashable, Sendable {
    public var device: UInt64
    public var inode: UInt64

    /// The identity of the file at `path` now; nil when there is none. The corresponding C function
    /// is `lstat`.
    public init?(path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    /// The identity of the file that `path` leads to, through symbolic links; nil when there is none.
    /// The corresponding C function is `stat`.
    public init?(reaching path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    /// Removes `path` if it still names this file; otherwise leaves it. The corresponding C function is
    /// `unlink`.
    ///
    /// - Returns: whether it was removed.
    @discardableResult
    public func unlink(_ path: String) -> Bool {
        guard FileIdentity(path: path) == self else { return false }
        return Glibc.unlink(path) == 0
    }
}
