import PxModel

/// The load balancer's queue of tasks waiting for an engine: a ring buffer with O(1) operations
/// at both ends.
///
/// New tasks go to the back and tasks whose engine died go back to the front, so the queue needs
/// cheap access at both ends; `Array.insert(contentsOf:at: 0)` would copy every waiting task each
/// time an engine dies. The package has no dependencies, so this is a small ring buffer rather
/// than swift-collections' `Deque`.
///
/// Each entry carries a *ticket*. Aborting a pending task does not search the queue: the load
/// balancer forgets the task and leaves its entry behind as a tombstone, which it recognises
/// later because the ticket no longer matches the task's record. ``removeAll(where:)`` sweeps
/// tombstones out when they start to dominate.
struct PendingQueue {
    /// One waiting task.
    struct Entry: Hashable {
        /// The task that waits.
        var task: TaskID
        /// The ticket that the task's record holds while this entry is the live one.
        var ticket: UInt64
    }

    /// The ring. Its count is zero or a power of two, so that wrapping an index is a mask.
    ///
    /// Slots outside the live range hold stale entries that are never read.
    private var storage: [Entry] = []

    /// The slot of the first entry.
    private var head = 0

    /// The number of entries, tombstones included.
    private(set) var count = 0

    /// The smallest ring that is allocated, so that a trickle of single tasks does not regrow it.
    private static let minimumCapacity = 16

    /// Whether the queue holds no entries at all.
    var isEmpty: Bool {
        self.count == 0
    }

    /// The number of entries the ring holds before it must grow.
    var capacity: Int {
        self.storage.count
    }

    // MARK: - Adding and removing

    /// Adds an entry at the back.
    mutating func append(_ entry: Entry) {
        self.reserveCapacity(self.count + 1)
        self.storage[self.slot(self.count)] = entry
        self.count += 1
    }

    /// Adds entries at the front, keeping their order: the first of `entries` becomes the first of
    /// the queue.
    mutating func prepend(contentsOf entries: [Entry]) {
        guard !entries.isEmpty else { return }
        self.reserveCapacity(self.count + entries.count)
        self.head = (self.head - entries.count) & (self.storage.count - 1)
        for (offset, entry) in entries.enumerated() {
            self.storage[self.slot(offset)] = entry
        }
        self.count += entries.count
    }

    /// The entry at the front, or `nil` if the queue is empty.
    var first: Entry? {
        self.count > 0 ? self.storage[self.head] : nil
    }

    /// Removes and returns the entry at the front, or `nil` if the queue is empty.
    mutating func popFirst() -> Entry? {
        guard self.count > 0 else { return nil }
        let entry = self.storage[self.head]
        self.head = (self.head + 1) & (self.storage.count - 1)
        self.count -= 1
        return entry
    }

    /// Removes the entries that `shouldBeRemoved` selects, keeping the order of the others.
    ///
    /// This is O(count); the load balancer calls it only when tombstones outnumber live entries,
    /// so its cost is paid for by the aborts that made them.
    mutating func removeAll(where shouldBeRemoved: (Entry) -> Bool) {
        var kept: [Entry] = []
        kept.reserveCapacity(self.count)
        for offset in 0..<self.count {
            let entry = self.storage[self.slot(offset)]
            if !shouldBeRemoved(entry) {
                kept.append(entry)
            }
        }
        self.removeAll()
        self.reserveCapacity(kept.count)
        for entry in kept {
            self.append(entry)
        }
    }

    /// Removes every entry and releases the ring.
    mutating func removeAll() {
        self.storage = []
        self.head = 0
        self.count = 0
    }

    /// Makes room for at least `minimumCount` entries, so that a large batch grows the ring once.
    mutating func reserveCapacity(_ minimumCount: Int) {
        guard minimumCount > self.storage.count else { return }
        var newCapacity = Swift.max(self.storage.count * 2, Self.minimumCapacity)
        while newCapacity < minimumCount {
            newCapacity *= 2
        }
        // The filler is never read: only slots in the live range are.
        var newStorage = [Entry](repeating: Entry(task: TaskID(0), ticket: 0), count: newCapacity)
        for offset in 0..<self.count {
            newStorage[offset] = self.storage[self.slot(offset)]
        }
        self.storage = newStorage
        self.head = 0
    }

    // MARK: - Indexing

    /// The slot of the entry `offset` places behind the front.
    private func slot(_ offset: Int) -> Int {
        (self.head + offset) & (self.storage.count - 1)
    }
}

// MARK: - Sequence

extension PendingQueue: Sequence {
    /// Iterates over the entries from front to back, tombstones included.
    struct Iterator: IteratorProtocol {
        fileprivate var remaining: PendingQueue

        mutating func next() -> Entry? {
            self.remaining.popFirst()
        }
    }

    func makeIterator() -> Iterator {
        Iterator(remaining: self)
    }
}
