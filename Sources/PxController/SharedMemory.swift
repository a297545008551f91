import PxPlatform

#if canImport(Glibc)
import Glibc
#endif

/// The cluster's private shared-memory directory, where engines exchange large buffers as files.
enum SharedMemory {
    /// Creates `/dev/shm/pxsh-UID-PID` (mode 0700) and tells the engines about it through their
    /// environment. Returns nil, and large buffers travel inline, where there is no /dev/shm.
    /// (``removeStaleDirectories()`` sweeps what killed controllers left.)
    static func makeDirectory() -> String? {
        guard access("/dev/shm", W_OK) == 0 else { return nil }
        let path = "/dev/shm/pxsh-\(getuid())-\(getpid())"
        guard (try? RuntimeDirectory.makePrivateDirectory(path)) != nil else { return nil }
        setenv("PXSH_SHARED_MEMORY_DIR", path, 1)
        return path
    }

    /// Removes the directories of this user's controllers that are gone (killed with SIGKILL, say,
    /// so they could not clean up), so that nothing piles up in shared memory.
    static func removeStaleDirectories() {
        let prefix = "pxsh-\(getuid())-"
        for name in DirectoryListing.names(in: "/dev/shm") ?? [] {
            guard name.hasPrefix(prefix), let pid = pid_t(name.dropFirst(prefix.count)),
                !ProcessTable.isAlive(pid)
            else { continue }
            let path = "/dev/shm/" + name
            // Only a real directory of ours: never follow a link someone else planted.
            if DirectoryListing.isOwnDirectory(path) { RuntimeDirectory.remove(path) }
        }
    }
}

extension SharedMemory {
    /// The marker with which the engine runtime names a shared-memory file instead of sending its
    /// bytes (`_SHARED_MEMORY_MAGIC` in `pxsh_runtime.py`).
    static let marker = Array("\u{0}pxsh-shared-memory\u{0}".utf8)

    /// The segment with a shared-memory file's bytes in place of its name, for an engine on
    /// another host; any other segment as it is.
    static func inlined(_ segment: [UInt8]) -> [UInt8] {
        guard let path = ownPath(in: segment), let bytes = try? FileDescriptor.readAll(path) else { return segment }
        return bytes
    }

    /// Removes the shared-memory files that `segments` name (those of a call packed for one task,
    /// once it ended). The engines that read them have mapped them by then.
    static func release(_ segments: [[UInt8]]) {
        for segment in segments { if let path = ownPath(in: segment) { unlink(path) } }
    }

    /// The file a segment names, if it names one in this cluster's own directory: a segment is the
    /// engines' data, not a path to trust.
    private static func ownPath(in segment: [UInt8]) -> String? {
        guard segment.count > marker.count, segment.starts(with: marker) else { return nil }
        let path = String(decoding: segment[marker.count...], as: UTF8.self)
        guard let directory = getenv("PXSH_SHARED_MEMORY_DIR").map({ String(cString: $0) + "/" }),
            path.hasPrefix(directory), !path.contains("/../")
        else { return nil }
        return path
    }
}
