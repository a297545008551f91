import PxPlatform
import PxSecurity
import PxWire

#if canImport(Glibc)
import Glibc
#endif

/// One peer of a single-threaded server: non-blocking reads into frames, and queued writes.
///
/// Writes are gathered during one turn of the poll loop and flushed at its end, so a burst of small
/// frames costs one system call. A peer that stops reading makes its queue grow, never the server wait.
public final class PeerConnection {
    public let descriptor: FileDescriptor
    private var decoder: FrameReader
    private var sealer: FrameSealer?
    /// What goes out before ``outbound``, in order: encoded bytes, and large segments as they
    /// came, not copied (a 200 MB buffer relayed to a remote engine was copied into ``outbound``).
    private var chunks: [Bytes] = []
    private var outbound: Bytes = []
    /// Bytes written of the first of ``chunks``, or of ``outbound`` when there are none.
    private var outboundOffset = 0
    // One buffer serves every peer: the server reads on a single thread.
    nonisolated(unsafe) private static let readBuffer = UnsafeMutableRawBufferPointer.allocate(
        byteCount: 1 << 18,
        alignment: 16
    )

    /// - Parameter maximumFrameSize: the largest frame accepted before ``trust(maximumFrameSize:)``:
    ///   small, so that a peer that has not yet shaken hands cannot make the server buffer much.
    public init(_ descriptor: FileDescriptor, maximumFrameSize: Int = 1 << 16) throws {
        self.descriptor = descriptor
        self.decoder = FrameReader(maximumFrameSize: maximumFrameSize)
        try descriptor.setNonBlocking(true)
    }

    deinit { descriptor.close() }

    /// Accepts frames up to `maximumFrameSize` from now on: the peer has identified itself.
    public func trust(maximumFrameSize: Int = 1 << 31) {
        decoder.maximumFrameSize = maximumFrameSize
    }

    /// Seals every frame from now on, both ways: the peer proved it holds the cluster's key.
    /// Frames already queued go out plain.
    public func seal(with keys: SessionKeys) {
        sealer = keys.makeSealer()
        decoder.seal(with: keys.makeOpener())
    }

    /// Whether frames are sealed (an authenticated TCP connection).
    public var isSealed: Bool { sealer != nil }

    /// Bytes queued and not yet written.
    public var pendingOutputCount: Int { chunks.reduce(outbound.count) { $0 + $1.count } - outboundOffset }

    /// Whether the poll loop should wait for this peer to become writable.
    public var wantsWrite: Bool { pendingOutputCount > 0 }

    /// Queues a frame for the next ``flush()``.
    public func enqueue(_ frame: Frame) {
        let isLarge = frame.segments.contains { $0.count >= PeerConnection.largeSegmentSize }
        switch (sealer != nil, isLarge) {
        case (false, false): FrameEncoder.encode(frame, into: &outbound)
        case (true, false): sealer!.seal(frame, into: &outbound)
        case (false, true):
            FrameEncoder.encode(frame, into: &outbound, largeSegmentSize: PeerConnection.largeSegmentSize) {
                queue(&$0, then: $1)
            }
        case (true, true):
            sealer!.seal(frame, into: &outbound, largeSegmentSize: PeerConnection.largeSegmentSize) {
                queue(&$0, then: $1)
            }
        }
    }

    /// Segments from this size on are written from where they are, not copied into ``outbound``.
    static let largeSegmentSize = 1 << 20

    /// Moves what `encoded` holds, then `segment`, to the end of ``chunks``, leaving `encoded` empty.
    private func queue(_ encoded: inout Bytes, then segment: Bytes) {
        // When ``chunks`` is empty, `encoded` (``outbound``) becomes its first, offset and all.
        chunks.append(encoded)
        chunks.append(segment)
        encoded = []
    }

    /// Writes as much queued output as the socket takes now.
    ///
    /// - Returns: false when the peer is gone.
    @discardableResult
    public func flush() -> Bool {
        while !chunks.isEmpty {
            guard let isWhole = write(chunks[0]) else { return false }
            guard isWhole else { return true }
            chunks.removeFirst()
            outboundOffset = 0
        }
        guard write(outbound) != nil else { return false }
        if outboundOffset == outbound.count {
            outbound.removeAll(keepingCapacity: outbound.capacity <= 1 << 20)
            outboundOffset = 0
        } else if outboundOffset > 1 << 20 && outboundOffset >= outbound.count / 2 {
            // Compacting only once half is written keeps large frames linear, not quadratic.
            outbound.removeFirst(outboundOffset)
            outboundOffset = 0
        }
        return true
    }

    /// Writes `bytes` from ``outboundOffset`` on, as far as the socket takes them now.
    ///
    /// - Returns: whether all are written; nil when the peer is gone.
    private func write(_ bytes: Bytes) -> Bool? {
        while outboundOffset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                send(
                    descriptor.rawValue,
                    raw.baseAddress! + outboundOffset,
                    raw.count - outboundOffset,
                    Int32(MSG_NOSIGNAL)
                )
            }
            if written < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { return false }
                return nil
            }
            outboundOffset += written
        }
        return true
    }

    /// Reads what is available and returns the whole frames it completes.
    ///
    /// - Returns: the frames, and whether the peer closed its end.
    /// - Throws: ``FrameError`` for a malformed stream, ``SealError`` for a sealed one that does not
    ///   open; the caller closes this connection.
    public func readFrames() throws -> (frames: [Frame], isClosed: Bool) {
        var frames: [Frame] = []
        var isClosed = false
        // Bounded, so that one busy peer cannot starve the others.
        for _ in 0..<16 {
            let available: Int?
            do {
                available = try descriptor.readAvailable(into: PeerConnection.readBuffer)
            } catch {
                // A failed read means the peer is gone, as end of file does.
                isClosed = true
                break
            }
            guard let count = available else { break }
            if count == 0 {
                isClosed = true
                break
            }
            decoder.feed(UnsafeRawBufferPointer(rebasing: PeerConnection.readBuffer[0..<count]))
            while let frame = try decoder.nextFrame() { frames.append(frame) }
            if count < PeerConnection.readBuffer.count { break }
        }
        return (frames, isClosed)
    }
}
