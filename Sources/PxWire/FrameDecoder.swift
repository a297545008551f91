/// Why a byte stream is not a valid sequence of frames. Any of these closes the connection that sent it.
public enum FrameError: Error, Equatable, CustomStringConvertible {
    /// The length prefix announces more than ``FrameDecoder/maximumFrameSize``.
    case oversized(length: Int, limit: Int)
    /// The length prefix is too small to hold a header.
    case truncatedHeader(length: Int)
    /// The segments do not add up to the announced length.
    case malformedSegments
    /// The kind byte names no ``MessageKind``.
    case unknownKind(UInt8)

    public var description: String {
        switch self {
        case .oversized(let length, let limit): "frame of \(length) bytes exceeds the limit of \(limit)"
        case .truncatedHeader(let length): "frame of \(length) bytes is too short for a header"
        case .malformedSegments: "frame segments do not match the frame length"
        case .unknownKind(let kind): "unknown message kind \(kind)"
        }
    }
}

/// Turns a byte stream, fed in chunks of any size, into frames.
///
/// The decoder keeps at most one partial frame. It validates the length before buffering, so an
/// oversized frame is rejected from its first four bytes.
public struct FrameDecoder: Sendable {
    /// The largest frame accepted, header included.
    /// A server lowers it until a peer has said who it is (see ``PeerConnection``).
    public var maximumFrameSize: Int
    private var records = RecordBuffer()

    public init(maximumFrameSize: Int = 1 << 31) {
        self.maximumFrameSize = maximumFrameSize
    }

    /// Bytes received but not yet part of a whole frame.
    public var bufferedByteCount: Int { records.count }

    /// Removes and returns the bytes received but not yet part of a frame, so that another decoder
    /// can take over the stream (after a TCP handshake, sealed frames follow in the same reads).
    public mutating func takeBufferedBytes() -> Bytes { records.takeRest() }

    /// Adds received bytes.
    public mutating func feed<C: Collection>(_ bytes: C) where C.Element == UInt8 { records.feed(bytes) }

    /// Adds received bytes from raw memory.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) { records.feed(bytes) }

    /// The next whole frame, or nil when more bytes are needed.
    ///
    /// - Throws: ``FrameError`` when the stream is not valid; the decoder must not be used after that.
    public mutating func nextFrame() throws(FrameError) -> Frame? {
        guard let length = records.nextLength else { return nil }
        guard length + 4 <= maximumFrameSize else { throw .oversized(length: length + 4, limit: maximumFrameSize) }
        guard length >= Frame.headerSize - 4 else { throw .truncatedHeader(length: length) }
        guard records.hasWholeRecord(ofLength: length) else {
            records.reserveRecord(ofLength: length)
            return nil
        }
        let start = records.nextRecordStart
        if var record = records.takeLargeRecord(ofLength: length) {
            return try FrameDecoder.frame(taking: &record, from: 4, to: 4 + length)
        }
        let frame = try FrameDecoder.frame(in: records.bytes, from: start, to: start + length)
        records.consumeRecord(ofLength: length)
        return frame
    }

    /// The frame whose header starts at `start` in `buffer` and whose segments end at `end` (the
    /// bytes after its length prefix), read in place.
    ///
    /// - Throws: ``FrameError`` when they are not one valid frame.
    public static func frame(in buffer: Bytes, from start: Int, to end: Int) throws(FrameError) -> Frame {
        try frame(in: buffer, from: start, to: end, leavingLastSegment: false).frame
    }

    /// ``frame(in:from:to:)`` for a record that `buffer` holds alone (what follows `end` is its MAC,
    /// or nothing): a large last segment is `buffer` itself, the rest removed in place, not a copy.
    public static func frame(taking buffer: inout Bytes, from start: Int, to end: Int) throws(FrameError) -> Frame {
        var (frame, lastStart) = try frame(in: buffer, from: start, to: end, leavingLastSegment: true)
        guard let last = frame.segments.indices.last else { return frame }
        guard end - lastStart >= RecordBuffer.largeRecord else {
            frame.segments[last] = Bytes(buffer[lastStart..<end])
            return frame
        }
        buffer.removeLast(buffer.count - end)
        buffer.removeFirst(lastStart)
        frame.segments[last] = buffer
        buffer = []
        return frame
    }

    /// The frame, and where its last segment starts; that segment is left empty if asked.
    private static func frame(
        in buffer: Bytes,
        from start: Int,
        to end: Int,
        leavingLastSegment: Bool
    ) throws(FrameError) -> (frame: Frame, lastSegmentStart: Int) {
        let length = end - start
        guard length >= Frame.headerSize - 4 else { throw .truncatedHeader(length: length) }
        guard let kind = MessageKind(rawValue: buffer[start]) else { throw .unknownKind(buffer[start]) }
        let op = buffer[start + 1]
        let flags = FrameFlags(rawValue: buffer.readLittleEndian(UInt16.self, at: start + 2))
        let engine = buffer.readLittleEndian(Int32.self, at: start + 4)
        let id = buffer.readLittleEndian(UInt64.self, at: start + 8)
        let count = Int(buffer.readLittleEndian(UInt32.self, at: start + 16))
        // Each segment needs at least its 4-byte length, which bounds a hostile count.
        guard count <= (length - 20) / 4 else { throw .malformedSegments }

        var segments: [Bytes] = []
        segments.reserveCapacity(count)
        var position = start + 20
        var lastSegmentStart = position
        for index in 0..<count {
            guard position + 4 <= end else { throw .malformedSegments }
            let segmentLength = Int(buffer.readLittleEndian(UInt32.self, at: position))
            position += 4
            guard segmentLength <= end - position else { throw .malformedSegments }
            lastSegmentStart = position
            let isLeft = leavingLastSegment && index == count - 1
            segments.append(isLeft ? [] : Bytes(buffer[position..<position + segmentLength]))
            position += segmentLength
        }
        guard position == end else { throw .malformedSegments }
        return (Frame(kind: kind, op: op, flags: flags, engine: engine, id: id, segments: segments), lastSegmentStart)
    }
}
