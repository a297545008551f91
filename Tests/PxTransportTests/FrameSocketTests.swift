import PxPlatform
import PxWire
import Testing

@testable import PxTransport

#if canImport(Glibc)
import Glibc
#endif

@Suite struct FrameSocketTests {
    /// A zero timeout takes what has already arrived: before, it gave up before reading the socket,
    /// so `Cluster.poll()` and the engine's look for interrupts between tasks never saw a new frame.
    @Test func aZeroTimeoutReadsWhatHasArrived() throws {
        let pipe = try FileDescriptor.pipe()
        let socket = FrameSocket(pipe.read)
        defer { pipe.write.close() }
        let frame = Frame(kind: .interrupt, engine: 2, id: 7)
        var bytes = Bytes()
        FrameEncoder.encode(frame, into: &bytes)
        try pipe.write.writeAll(bytes)
        guard case .frame(let received) = try socket.receive(timeoutMilliseconds: 0) else {
            Issue.record("no frame")
            return
        }
        #expect(received == frame)
        guard case .timedOut = try socket.receive(timeoutMilliseconds: 0) else {
            Issue.record("a second frame out of nothing")
            return
        }
    }

    @Test func aClosedPeerIsReportedOnceItsFramesAreRead() throws {
        let pipe = try FileDescriptor.pipe()
        let socket = FrameSocket(pipe.read)
        var bytes = Bytes()
        FrameEncoder.encode(Frame(kind: .welcome), into: &bytes)
        try pipe.write.writeAll(bytes)
        pipe.write.close()
        guard case .frame = try socket.receive(timeoutMilliseconds: 1_000) else {
            Issue.record("no frame")
            return
        }
        guard case .closed = try socket.receive(timeoutMilliseconds: 1_000) else {
            Issue.record("the close was not seen")
            return
        }
    }

    /// A receiver waits for input only. A blocking `read` on a Unix stream socket is also woken each
    /// time the peer takes in what this side wrote, so engines woke twice per task (once when the
    /// controller read the reply, once for the next task), and the controller paid for each
    /// needless wake-up.
    ///
    /// The peer, a python, reads the frame this side sent once the receiver is waiting, then answers;
    /// the receiving thread may sleep once, for the answer. (The pauses only order the steps: on a
    /// machine too slow for them the test passes without having looked.)
    @Test func aWaitingReceiverIsNotWokenWhenThePeerReadsWhatItSent() throws {
        let (mine, theirs) = try FileDescriptor.socketPair()
        let socket = FrameSocket(mine)
        var request = Bytes()
        FrameEncoder.encode(Frame(kind: .reply, engine: 1, id: 1), into: &request)
        let peer = """
            import os, time
            time.sleep(0.3)
            os.read(0, \(request.count))
            time.sleep(0.3)
            os.write(0, bytes(\(Array(request))))
            """
        let python = ProcessSpawner.findExecutable("python3") ?? "/usr/bin/python3"
        let pid = try ProcessSpawner.spawn(python, arguments: ["-c", peer], standardInput: theirs)
        theirs.close()
        defer { _ = ProcessSpawner.wait(pid, milliseconds: 5_000) }
        try socket.send(Frame(kind: .reply, engine: 1, id: 1))
        let before = try voluntarySwitchesOfThisThread()
        let answer = try socket.receive()
        let sleeps = try voluntarySwitchesOfThisThread() - before
        #expect(answer?.id == 1)
        #expect(sleeps <= 1, "the receiving thread slept \(sleeps) times for one frame")
    }

    private func voluntarySwitchesOfThisThread() throws -> Int {
        let descriptor = try FileDescriptor.open("/proc/thread-self/status", flags: O_RDONLY)
        defer { descriptor.close() }
        var text = Bytes()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 8)
        defer { buffer.deallocate() }
        while case let count = try descriptor.read(into: buffer), count > 0 {
            text += UnsafeRawBufferPointer(rebasing: buffer[0..<count])
        }
        let line = String(decoding: text, as: UTF8.self).split(separator: "\n").first {
            $0.hasPrefix("voluntary_ctxt_switches:")
        }
        return Int(line?.split(separator: "\t").last.map(String.init) ?? "") ?? -1
    }
}
