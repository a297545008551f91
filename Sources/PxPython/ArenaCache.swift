#if canImport(Glibc)
import Glibc
#endif

/// Keeps the arenas that Python's small-object allocator gives back, for its next ones.
///
/// CPython takes memory for its small objects (ints, floats, tuples, ...) in 1 MiB arenas, and
/// unmaps an arena as soon as its last object is freed. A new arena's pages then fault in one by
/// one on first touch, and on this kind of VM a fault costs microseconds: unpickling 10**6 ints
/// (32 MiB of objects) after dropping the previous 10**6 took 6,300 page faults and 20 ms of
/// system time next to 25 ms of user time. Gathering and mapping do exactly that, run after run.
///
/// Kept arenas are marked `MADV_FREE`: the kernel may take their pages back when memory runs
/// short (a later touch then gets a zero page, which is all Python expects of a new arena), and
/// until it does, reusing them costs no fault. At most ``capacity`` arenas are kept; the rest
/// are unmapped as before.
///
/// CPython calls the allocator with the GIL held, so the cache needs no lock.
enum ArenaCache {
    /// 64 MiB with CPython's 1 MiB arenas (256 KiB before 3.10).
    static let capacity = 64

    private nonisolated(unsafe) static let kept = UnsafeMutablePointer<(address: UnsafeMutableRawPointer, size: Int)>
        .allocate(capacity: capacity)
    private nonisolated(unsafe) static var keptCount = 0

    typealias Allocate = @convention(c) (UnsafeMutableRawPointer?, Int) -> UnsafeMutableRawPointer?
    typealias Free = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, Int) -> Void

    private static let allocate: Allocate = { _, size in ArenaCache.take(size: size) }
    private static let free: Free = { _, address, size in ArenaCache.keep(address, size: size) }

    /// A kept arena of `size` bytes, else a new mapping (as CPython's own allocator makes).
    private static func take(size: Int) -> UnsafeMutableRawPointer? {
        var index = keptCount
        while index > 0 {
            index -= 1
            guard kept[index].size == size else { continue }
            let address = kept[index].address
            keptCount -= 1
            kept[index] = kept[keptCount]
            return address
        }
        let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        return address == MAP_FAILED ? nil : address
    }

    private static func keep(_ address: UnsafeMutableRawPointer?, size: Int) {
        guard let address else { return }
        if keptCount < capacity && madvise(address, size, MADV_FREE) == 0 {
            kept[keptCount] = (address, size)
            keptCount += 1
        } else {
            munmap(address, size)
        }
    }

    /// Makes the cache Python's arena allocator (`PyObject_SetArenaAllocator`); arenas made before
    /// were mapped the same way, so they are kept or unmapped like the cache's own. Does nothing
    /// for a libpython without that function.
    static func install(in library: UnsafeMutableRawPointer) {
        typealias SetArenaAllocator = @convention(c) (UnsafeMutableRawPointer) -> Void
        guard let set = dlsym(library, "PyObject_SetArenaAllocator") else { return }
        // PyObjectArenaAllocator: { void *ctx; alloc; free }, copied by Python.
        let allocator = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 3)
        defer { allocator.deallocate() }
        allocator[0] = nil
        allocator[1] = unsafeBitCast(allocate, to: UnsafeMutableRawPointer.self)
        allocator[2] = unsafeBitCast(free, to: UnsafeMutableRawPointer.self)
        unsafeBitCast(set, to: SetArenaAllocator.self)(UnsafeMutableRawPointer(allocator))
    }
}
