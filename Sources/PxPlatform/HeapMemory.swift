import CPxSys

/// The heap of this process.
public enum HeapMemory {
    /// Returns freed heap memory to the system. The corresponding C call is glibc's `malloc_trim(0)`.
    public static func releaseFreePages() {
        pxsys_release_free_memory()
    }
}
