import Testing

@testable import PxScheduling

struct PendingQueueTests {
    private func entry(_ task: UInt64) -> PendingQueue.Entry {
        PendingQueue.Entry(task: TaskID(task), ticket: task)
    }

    private func tasks(in queue: PendingQueue) -> [UInt64] {
        queue.map(\.task.rawValue)
    }

    @Test func keepsOrderAcrossWrapAroundAndGrowth() {
        var queue = PendingQueue()
        for task in 0..<10 {
            queue.append(self.entry(UInt64(task)))
        }
        for expected in 0..<6 {
            #expect(queue.popFirst()?.task == TaskID(UInt64(expected)))
        }
        // The head is now in the middle of a 16-slot ring: these wrap, then force growth.
        for task in 10..<40 {
            queue.append(self.entry(UInt64(task)))
        }
        #expect(self.tasks(in: queue) == Array(6..<40))
        #expect(queue.count == 34)
    }

    @Test(arguments: [0, 3, 15, 16, 17])
    func prependKeepsTheOrderOfTheNewEntries(alreadyPopped: Int) {
        var queue = PendingQueue()
        for task in 100..<116 {
            queue.append(self.entry(UInt64(task)))
        }
        for _ in 0..<min(alreadyPopped, 16) {
            _ = queue.popFirst()
        }
        let front = (1...alreadyPopped + 1).map { self.entry(UInt64($0)) }
        queue.prepend(contentsOf: front)
        let remaining = (100 + min(alreadyPopped, 16))..<116
        #expect(self.tasks(in: queue) == Array(1...UInt64(alreadyPopped + 1)) + remaining.map(UInt64.init))
    }

    @Test func removeAllWhereKeepsTheOrderOfTheRest() {
        var queue = PendingQueue()
        for task in 0..<50 {
            queue.append(self.entry(UInt64(task)))
        }
        for _ in 0..<5 {
            _ = queue.popFirst()
        }
        queue.removeAll { $0.task.rawValue % 3 == 0 }
        #expect(self.tasks(in: queue) == (5..<50).filter { $0 % 3 != 0 }.map(UInt64.init))
        queue.append(self.entry(1000))
        #expect(self.tasks(in: queue).last == 1000)
    }

    @Test func popFromEmptyQueueReturnsNil() {
        var queue = PendingQueue()
        #expect(queue.popFirst() == nil)
        queue.append(self.entry(1))
        #expect(queue.popFirst() == self.entry(1))
        #expect(queue.popFirst() == nil)
        #expect(queue.isEmpty)
    }
}
