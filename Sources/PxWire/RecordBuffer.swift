/// The bytes of a stream of length-prefixed records (`u32 length`, then that many bytes), fed in
/// chunks of any size: what the plain ``FrameDecoder`` and the sealed-frame opener of `PxSecurity`
/// share. Whole records are read in place, where they were received.
public struct RecordBuffer: Sendable {
    /// The bytes received; the next record's prefix is at ``readIndex``.
    public private(set) var bytes: Bytes = []
    public private(set) var readIndex = 0

    public init() {}

    /// Bytes received but not yet part of a whole record.
    public var count: Int { bytes.count - readIndex }

    public mutating func feed<C: Collection>(_ more: C) where C.Element == UInt8 {
        compactIfNeeded()
        bytes.append(contentsOf: more)
    }

    public mutating func feed(_ more: UnsafeRawBufferPointer) {
        compactIfNeeded()
        bytes.append(contentsOf: more)
    }

    /// The length the next record's prefix announces; nil until its 4 bytes are in.
    public var nextLength: Int? {
        count >= 4 ? Int(bytes.readLittleEndian(UInt32.self, at: readIndex)) : nil
    }

    /// Where the next record's content starts, after its prefix.
    public var nextRecordStart: Int { readIndex + 4 }

    /// Whether the next record, of content `length`, is whole.
    public func hasWholeRecord(ofLength length: Int) -> Bool { count >= length + 4 }

    /// Makes room for the whole next record, of content `length` (already checked against the
    /// limit), when it is large: it is then received into one allocation of its size, not into one
    /// that doubled, and copied itself, its way up to twice that size.
    public mutating func reserveRecord(ofLength length: Int) {
        guard length >= RecordBuffer.largeRecord, bytes.capacity - readIndex < 4 + length else { return }
        bytes.removeFirst(readIndex)
        readIndex = 0
        bytes.reserveCapacity(4 + length)
    }

    /// Moves past the next record, of content `length`.
    public mutating func consumeRecord(ofLength length: Int) {
        readIndex += 4 + length
        // A large record's room goes once it is read, not kept for the life of the connection.
        if readIndex == bytes.count && bytes.capacity >= RecordBuffer.largeRecord {
            bytes = []
            readIndex = 0
        }
    }

    /// Moves past the next record, of content `length`, and returns the buffer itself, whose
    /// record starts at 0, when that record is large and had room of its own: a copy of it would
    /// double the memory it takes. Nil, and nothing changes, otherwise.
    public mutating func takeLargeRecord(ofLength length: Int) -> Bytes? {
        guard length >= RecordBuffer.largeRecord && readIndex == 0 else { return nil }
        // What came after it (the start of the next frame) is small: it alone is copied.
        let rest = Bytes(bytes[(4 + length)...])
        var record = bytes
        bytes = rest
        record.removeLast(rest.count)
        return record
    }

    /// Records from this size on get room of their own (``reserveRecord(ofLength:)``).
    static let largeRecord = 1 << 20

    /// Removes and returns the bytes not yet part of a record, so that another reader can take over
    /// the stream (after a TCP handshake, sealed frames follow in the same reads).
    public mutating func takeRest() -> Bytes {
        let rest = Bytes(bytes[readIndex...])
        bytes = []
        readIndex = 0
        return rest
    }

    private mutating func compactIfNeeded() {
        // Drop consumed bytes once they dominate, so the buffer does not grow without bound.
        if readIndex > 0 && (readIndex == bytes.count || readIndex >= 1 << 16) {
            bytes.removeFirst(readIndex)
            readIndex = 0
        }
    }
}
