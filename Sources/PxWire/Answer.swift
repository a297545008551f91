/// The whole answer to a submission flagged ``FrameFlags/oneAnswer``, as one frame: its
/// `accepted` frame, then its tasks' output and replies, in the order they would have been sent.
///
/// Each segment of the `answer` frame is one of those frames as encoded, without its length prefix
/// (which is the segment's own length), so the frame's body is them back to back. The frame has
/// ``FrameFlags/failed`` when one of the replies has it: a client can take an answer of
/// `1 + tasks` segments without that flag (no output, every task `ok`) without reading it.
public struct Answer: Equatable, Sendable {
    public var requestID: UInt64
    public var frames: [Frame]

    public init(requestID: UInt64, frames: [Frame]) {
        self.requestID = requestID
        self.frames = frames
    }

    /// The bytes the answer frame takes on the wire.
    public var encodedSize: Int { frames.reduce(Frame.headerSize) { $0 + $1.encodedSize } }

    public var frame: Frame {
        let failed = frames.contains { $0.kind == .reply && $0.flags.contains(.failed) }
        return Frame(
            kind: .answer,
            flags: failed ? [.failed] : [],
            id: requestID,
            segments: frames.map { Bytes(FrameEncoder.encode($0).dropFirst(4)) }
        )
    }

    /// Reads an answer frame; nil when a segment is not a valid frame.
    public init?(_ frame: Frame) {
        guard frame.kind == .answer else { return nil }
        var frames: [Frame] = []
        frames.reserveCapacity(frame.segments.count)
        for segment in frame.segments {
            guard let inner = try? FrameDecoder.frame(in: segment, from: 0, to: segment.count) else { return nil }
            frames.append(inner)
        }
        self.init(requestID: frame.id, frames: frames)
    }
}
