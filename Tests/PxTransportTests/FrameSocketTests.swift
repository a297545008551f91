import PxPlatform
import PxWire
import Testing

@testable import PxTransport

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
}
