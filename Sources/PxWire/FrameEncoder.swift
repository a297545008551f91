/// Writes frames as bytes.
public enum FrameEncoder {
    /// Appends the wire form of `frame` to `buffer`.
    public static func encode(_ frame: Frame, into buffer: inout Bytes) {
        let size = frame.encodedSize
        // Grow geometrically: reserving exactly count + size on every call reallocates and copies the
        // whole buffer for each frame queued behind others (quadratic in a burst).
        if buffer.capacity < buffer.count + size {
            buffer.reserveCapacity(max(buffer.count + size, 2 * buffer.capacity))
        }
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
