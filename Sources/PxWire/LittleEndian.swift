// MARK: - Little-endian integers in byte arrays

extension Array where Element == UInt8 {
    /// Appends `value` in little-endian byte order.
    @inlinable
    public mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    /// Reads a little-endian integer at `offset`; the caller has checked the bounds.
    @inlinable
    public func readLittleEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var value = T.zero
        Swift.withUnsafeMutableBytes(of: &value) { target in
            for index in 0..<MemoryLayout<T>.size { target[index] = self[offset + index] }
        }
        return T(littleEndian: value)
    }
}

/// Reads fixed-width fields from a segment in order, failing softly when it is too short.
public struct ByteReader {
    private let bytes: Bytes
    private var offset = 0

    public init(_ bytes: Bytes) { self.bytes = bytes }

    public var isAtEnd: Bool { offset >= bytes.count }

    /// The next little-endian integer, or nil when the segment is too short.
    public mutating func read<T: FixedWidthInteger>(_ type: T.Type) -> T? {
        let size = MemoryLayout<T>.size
        guard offset + size <= bytes.count else { return nil }
        defer { offset += size }
        return bytes.readLittleEndian(type, at: offset)
    }
}

// MARK: - Text segments

extension Array where Element == UInt8 {
    /// The UTF-8 bytes of `text`.
    @inlinable
    public init(text: String) { self = Array(text.utf8) }

    /// The segment as text; invalid UTF-8 is repaired with U+FFFD.
    @inlinable
    public var text: String { String(decoding: self, as: UTF8.self) }
}
