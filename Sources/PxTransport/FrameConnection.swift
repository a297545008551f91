import PxPlatform
import PxSecurity
import PxWire

/// One peer's connection as a single-threaded server sees it: frames queued out, frames read in.
///
/// ``PeerConnection`` is the real one, over a socket; ``InMemoryConnection`` stands in for it in
/// tests of the controller's logic, which then run without processes or sockets.
public protocol FrameConnection: AnyObject {
    /// The socket to poll; nil for a connection that is not a socket.
    var pollDescriptor: FileDescriptor? { get }
    /// Whether the poll loop should wait for this peer to become writable.
    var wantsWrite: Bool { get }
    /// Bytes enqueued and not yet written.
    var pendingOutputCount: Int { get }
    /// Whether frames are sealed (an authenticated TCP connection).
    var isSealed: Bool { get }
    /// Queues a frame for the next ``flush()``.
    func enqueue(_ frame: Frame)
    /// Writes what it can; false when the peer is gone.
    @discardableResult func flush() -> Bool
    /// The whole frames that have arrived, and whether the peer closed its end.
    func readFrames() throws -> (frames: [Frame], isClosed: Bool)
    /// Accepts frames up to `maximumFrameSize` from now on: the peer has identified itself.
    func trust(maximumFrameSize: Int)
    /// Seals every frame from now on, both ways.
    func seal(with keys: SessionKeys)
}

extension PeerConnection: FrameConnection {
    public var pollDescriptor: FileDescriptor? { descriptor }
}

/// A connection whose other end is a test: frames the server enqueues are kept in ``sent`` (once
/// flushed), and frames the test ``deliver(_:)``s are what the server reads.
public final class InMemoryConnection: FrameConnection {
    /// Frames flushed to the peer, oldest first.
    public private(set) var sent: [Frame] = []
    private var queued: [Frame] = []
    private var inbound: [Frame] = []
    private var isClosedByPeer = false
    public private(set) var isSealed = false
    /// The largest frame accepted, as a socket connection would enforce it.
    public private(set) var maximumFrameSize: Int

    public init(maximumFrameSize: Int = 1 << 16) {
        self.maximumFrameSize = maximumFrameSize
    }

    public var pollDescriptor: FileDescriptor? { nil }
    public var wantsWrite: Bool { !queued.isEmpty }
    public var pendingOutputCount: Int { queued.reduce(0) { $0 + $1.encodedSize } }

    public func enqueue(_ frame: Frame) { queued.append(frame) }

    @discardableResult
    public func flush() -> Bool {
        sent += queued
        queued = []
        return !isClosedByPeer
    }

    public func readFrames() throws -> (frames: [Frame], isClosed: Bool) {
        if let oversized = inbound.first(where: { $0.encodedSize > maximumFrameSize }) {
            throw FrameError.oversized(length: oversized.encodedSize, limit: maximumFrameSize)
        }
        defer { inbound = [] }
        return (inbound, isClosedByPeer)
    }

    public func trust(maximumFrameSize: Int) { self.maximumFrameSize = maximumFrameSize }

    public func seal(with keys: SessionKeys) { isSealed = true }

    // MARK: - The test's end

    /// Frames the server will read next.
    public func deliver(_ frames: Frame...) { inbound += frames }

    /// The peer closes its end.
    public func close() { isClosedByPeer = true }

    /// Takes the frames sent so far (flushing first).
    public func takeSent() -> [Frame] {
        flush()
        defer { sent = [] }
        return sent
    }
}

extension FrameConnection {
    /// Accepts frames of any size from now on.
    public func trust() { trust(maximumFrameSize: 1 << 31) }
}
