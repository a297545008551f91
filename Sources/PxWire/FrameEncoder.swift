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
        appendHeader(of: frame, size: size, to: &buffer)
        for segment in frame.segments {
            let length = UInt32(truncatingIfNeeded: segment.count)
            buffer.append(UInt8(truncatingIfNeeded: length))
            buffer.append(UInt8(truncatingIfNeeded: length >> 8))
            buffer.append(UInt8(truncatingIfNeeded: length >> 16))
            buffer.append(UInt8(truncatingIfNeeded: length >> 24))
            buffer.append(contentsOf: segment)
        }
    }

    /// Appends the wire form of `frame` to `buffer`, except the bytes of each segment of
    /// `largeSegmentSize` or more: `passLarge(&buffer, segment)` gets those, in order, with what
    /// was encoded before them still in `buffer`, so that they are written as they are, not copied.
    public static func encode(
        _ frame: Frame,
        into buffer: inout Bytes,
        largeSegmentSize: Int,
        passingLarge passLarge: (inout Bytes, Bytes) -> Void
    ) {
        appendHeader(of: frame, size: frame.encodedSize, to: &buffer)
        for segment in frame.segments {
            buffer.appendLittleEndian(UInt32(truncatingIfNeeded: segment.count))
            if segment.count >= largeSegmentSize {
                passLarge(&buffer, segment)
            } else {
                buffer.append(contentsOf: segment)
            }
        }
    }

    private static func appendHeader(of frame: Frame, size: Int, to buffer: inout Bytes) {
        // The header is built on the stack and appended at once, and a segment's length goes in byte by
        // byte into the reserved capacity: an append of each field's bytes took the generic sequence path
        // (a third of an encode's instructions, and the controller encodes every frame it relays).
        var header: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &header) { raw in
            raw.storeBytes(of: UInt32(truncatingIfNeeded: size - 4).littleEndian, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: frame.kind.rawValue, toByteOffset: 4, as: UInt8.self)
            raw.storeBytes(of: frame.op, toByteOffset: 5, as: UInt8.self)
            raw.storeBytes(of: frame.flags.rawValue.littleEndian, toByteOffset: 6, as: UInt16.self)
            raw.storeBytes(of: frame.engine.littleEndian, toByteOffset: 8, as: Int32.self)
            raw.storeBytes(of: frame.id.littleEndian, toByteOffset: 12, as: UInt64.self)
            raw.storeBytes(
                of: UInt32(truncatingIfNeeded: frame.segments.count).littleEndian,
                toByteOffset: 20,
                as: UInt32.self
            )
            buffer.append(contentsOf: UnsafeRawBufferPointer(raw))
        }
    }

    /// The wire form of `frame`.
    public static func encode(_ frame: Frame) -> Bytes {
        var buffer = Bytes()
        encode(frame, into: &buffer)
        return buffer
    }
}
