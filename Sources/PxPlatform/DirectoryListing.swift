#if canImport(Glibc)
import Glibc
#endif

/// The names in a directory: the one place that walks `readdir`.
public enum DirectoryListing {
    /// The names of the entries of `path`, without `.` and `..`, in the order the system gives them;
    /// nil when the directory cannot be opened. The corresponding C functions are `opendir`, `readdir`
    /// and `closedir`.
    public static func names(in path: String) -> [String]? {
        guard let directory = opendir(path) else { return nil }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Whether `path` is a directory owned by this user, not a link to one. The corresponding C
    /// function is `lstat`.
    public static func isOwnDirectory(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR && info.st_uid == getuid()
    }
}
