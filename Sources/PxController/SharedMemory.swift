import PxPlatform

#if canImport(Glibc)
import Glibc
#endif

/// The cluster's private shared-memory directory, where engines exchange large buffers as files.
enum SharedMemory {
    /// Creates `/dev/shm/pxsh-UID-PID` (mode 0700) and tells the engines about it through their
    /// environment. Returns nil, and large buffers travel inline, where there is no /dev/shm.
    static func makeDirectory() -> String? {
        guard access("/dev/shm", W_OK) == 0 else { return nil }
        removeStaleDirectories()
        let path = "/dev/shm/pxsh-\(getuid())-\(getpid())"
        guard (try? RuntimeDirectory.makePrivateDirectory(path)) != nil else { return nil }
        setenv("PXSH_SHARED_MEMORY_DIR", path, 1)
        return path
    }

    /// Removes the directories of this user's controllers that are gone (killed with SIGKILL, say,
    /// so they could not clean up), so that nothing piles up in shared memory.
    private static func removeStaleDirectories() {
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
