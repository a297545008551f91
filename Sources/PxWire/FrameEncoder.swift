/// Writes frames as bytes.
public enum FrameEncoder {
    /// Appends the wire form of `frame` to `buffer`.
    public static func encode(_ frame: Frame, into buffer: inout Bytes) {
        let size = frame.encodedSize
        buffer.reserveCapacity(buffer.count + size)
        buffer.appendLittleEndian(UInt32(truncatingIfNeeded: size - 4))
        buffer.append(frame.kind.rawValue)
        buffer.append(frame.op)
        buffer.appendLittleEndian(frame.flags.rawValue)
        buffer.appendLittleEndian(frame.engine)
        buffer.appendLittleEndian(frame.id)
        buffer.appendLittleEndian(UInt32(frame.segments.count))
        for segment in frame.segments {
            buffer.appendLittleEndian(UInt32(segment.count))
            buffer.append(contentsOf: segment)
        }
    }

    /// The wire form of `frame`.
    public static func encode(_ frame: Frame) -> Bytes {
        var buffer = Bytes()
        encode(frame, into: &buffer)
        return buffer
    }
}
