#if canImport(Glibc)
import Glibc
#endif

/// Where pxsh keeps its sockets, logs and cluster descriptions: a directory only this user can enter.
///
/// `$XDG_RUNTIME_DIR/pxsh` when that is set, else `/tmp/pxsh-UID`. It is created with mode 0700 and
/// refused if it exists with another owner or looser permissions, so that no other user can reach a socket.
public enum RuntimeDirectory {
    public struct UnsafeDirectory: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "refusing to use \(path): \(reason)" }
    }

    /// The per-user runtime directory, created if needed.
    public static func root() throws -> String {
        let base: String
        if let xdg = getenv("XDG_RUNTIME_DIR").map({ String(cString: $0) }), !xdg.isEmpty,
            access(xdg, W_OK) == 0
        {
            base = xdg + "/pxsh"
        } else {
            base = "/tmp/pxsh-\(getuid())"
        }
        try makePrivateDirectory(base)
        return base
    }

    /// Creates `path` with mode 0700 if it does not exist, and checks that it is ours and private.
    public static func makePrivateDirectory(_ path: String) throws {
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw SystemError("mkdir \(path)")
        }
        var info = stat()
        guard lstat(path, &info) == 0 else { throw SystemError("stat \(path)") }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw UnsafeDirectory(path: path, reason: "not a directory") }
        guard info.st_uid == getuid() else {
            throw UnsafeDirectory(path: path, reason: "owned by uid \(info.st_uid), not \(getuid())")
        }
        if info.st_mode & 0o077 != 0 {
            guard chmod(path, 0o700) == 0 else { throw UnsafeDirectory(path: path, reason: "mode is not 0700") }
        }
    }

    /// Removes a directory and the files directly in it (sockets, logs, descriptions).
    public static func remove(_ path: String) {
        for name in DirectoryListing.names(in: path) ?? [] { unlink(path + "/" + name) }
        rmdir(path)
    }
}
