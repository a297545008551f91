import PxTransport

#if canImport(Glibc)
import Glibc
#endif

/// The cluster's private shared-memory directory, where engines exchange large buffers as files.
enum SharedMemory {
    /// Creates `/dev/shm/pxsh-UID-PID` (mode 0700) and tells the engines about it through their
    /// environment. Returns nil, and large buffers travel inline, where there is no /dev/shm.
    static func makeDirectory() -> String? {
        guard access("/dev/shm", W_OK) == 0 else { return nil }
        let path = "/dev/shm/pxsh-\(getuid())-\(getpid())"
        guard (try? RuntimeDirectory.makePrivateDirectory(path)) != nil else { return nil }
        setenv("PXSH_SHARED_MEMORY_DIR", path, 1)
        return path
    }
}
