import PxPlatform
import PxWire
import Testing

@testable import PxTransport

@Suite struct PeerConnectionTests {
    /// Segments of 1 MiB and more are written from where they are, not copied into the queue: the
    /// frames still arrive whole and in order, between small ones, across partial writes.
    @Test func largeSegmentsArriveInOrderBetweenSmallFrames() throws {
        let (mine, theirs) = try FileDescriptor.socketPair()
        let connection = try PeerConnection(mine)
        let receiver = FrameSocket(theirs)
        let large = Bytes((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let frames = [
            Frame(kind: .heartbeat),
            Frame(kind: .reply, engine: 1, id: 2, segments: [Bytes(text: "ok"), large, Bytes(text: "end")]),
            Frame(kind: .stream, engine: 1, id: 3, segments: [Bytes(text: "between")]),
            Frame(kind: .reply, engine: 1, id: 4, segments: [large, large]),
        ]
        for frame in frames { connection.enqueue(frame) }
        #expect(connection.pendingOutputCount == frames.reduce(0) { $0 + $1.encodedSize })
        // One thread: each turn writes what the socket takes, and reads what has arrived.
        var received: [Frame] = []
        for _ in 0..<100_000 where received.count < frames.count {
            #expect(connection.flush())
            if case .frame(let frame) = try receiver.receive(timeoutMilliseconds: 0) { received.append(frame) }
        }
        #expect(received == frames)
        #expect(!connection.wantsWrite)
    }
}
