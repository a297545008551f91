import PxPlatform
import PxSecurity
import PxWire
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A connected socket that sends and receives whole frames with blocking calls.
///
/// Engines and clients use it: one thread receives, and any thread may send (sends are serialized).
/// The controller, which serves many peers from one thread, uses ``PeerConnection`` instead.
public final class FrameSocket: @unchecked Sendable {
    /// What ``receive(timeoutMilliseconds:wakingOn:)`` found.
    public enum Received {
        case frame(Frame)
        /// The peer closed the connection.
        case closed
        /// The time ran out.
        case timedOut
        /// The extra descriptor became readable.
        case woken
    }

    public let descriptor: FileDescriptor
    // Only the receiving thread touches the decoder and the read buffer.
    private var decoder: FrameReader
    private let readBuffer: UnsafeMutableRawBufferPointer
    private let sending = Mutex<Outbound>(Outbound())

    /// What the sending side keeps: a buffer, and on an authenticated TCP connection the sealer,
    /// whose sequence numbers must follow the order of the writes.
    private struct Outbound {
        var buffer: Bytes = []
        var sealer: FrameSealer?
    }

    /// Takes ownership of a connected descriptor.
    public init(_ descriptor: FileDescriptor, maximumFrameSize: Int = 1 << 31) {
        self.descriptor = descriptor
        self.decoder = FrameReader(maximumFrameSize: maximumFrameSize)
        self.readBuffer = .allocate(byteCount: 1 << 16, alignment: 16)
    }

    deinit {
        readBuffer.deallocate()
        descriptor.close()
    }

    /// Connects to the socket at `path`.
    public static func connect(to path: String) throws -> FrameSocket {
        FrameSocket(try UnixSocket.connect(to: path))
    }

    // MARK: - Sending

    /// Sends frames in one write.
    public func send(_ frames: Frame...) throws {
        try send(contentsOf: frames)
    }

    /// Sends frames in one write.
    public func send(contentsOf frames: [Frame]) throws {
        try sending.withLock { (outbound: inout Outbound) throws in
            outbound.buffer.removeAll(keepingCapacity: true)
            if outbound.sealer != nil {
                for frame in frames { outbound.sealer!.seal(frame, into: &outbound.buffer) }
            } else {
                for frame in frames { FrameEncoder.encode(frame, into: &outbound.buffer) }
            }
            defer { if outbound.buffer.capacity > 1 << 20 { outbound.buffer = [] } }
            try descriptor.writeAll(outbound.buffer)
        }
    }

    // MARK: - Receiving

    /// Blocks until a whole frame arrives; nil when the peer has closed the connection.
    ///
    /// - Throws: ``FrameError`` for a malformed stream, ``SystemError`` for a failed read.
    public func receive() throws -> Frame? {
        while true {
            if let frame = try decoder.nextFrame() { return frame }
            // Waits in poll, not in read: see Poll.waitUntilReadable.
            try Poll.waitUntilReadable(descriptor)
            let count = try descriptor.read(into: readBuffer)
            if count == 0 { return nil }
            decoder.feed(UnsafeRawBufferPointer(rebasing: readBuffer[0..<count]))
        }
    }

    /// Waits for a frame for at most `timeoutMilliseconds` (-1: no limit), or until `wake` becomes readable.
    ///
    /// With 0 it takes what has already arrived, and does not wait.
    public func receive(timeoutMilliseconds: Int32, wakingOn wake: FileDescriptor? = nil) throws -> Received {
        let deadline = timeoutMilliseconds < 0 ? nil : Deadline(milliseconds: Int(timeoutMilliseconds))
        while true {
            if let frame = try decoder.nextFrame() { return .frame(frame) }
            var watched: [(FileDescriptor, Poll.Events)] = [(descriptor, .readable)]
            if let wake { watched.append((wake, .readable)) }
            // Poll at least once, even once the time is up, so that what has arrived is read.
            let ready = try Poll.wait(watched, timeoutMilliseconds: Deadline.pollTimeout(until: deadline))
            if ready.count > 1 && !ready[1].isEmpty { return .woken }
            guard !ready[0].isEmpty else {
                if deadline?.hasPassed == true { return .timedOut }
                continue
            }
            let count = try descriptor.read(into: readBuffer)
            if count == 0 { return .closed }
            decoder.feed(UnsafeRawBufferPointer(rebasing: readBuffer[0..<count]))
        }
    }

    // MARK: - Authentication (TCP)

    /// Proves to the controller that this side holds the cluster's key, and checks that the
    /// controller does (``KeyExchange``); every later frame is sealed.
    ///
    /// - Throws: ``KeyExchangeError`` when either side lacks the key or the controller refuses;
    ///   ``TCPSocket/Failure`` when the controller says nothing within `timeoutMilliseconds`.
    public func authenticate(key: ClusterKey, cluster: String, timeoutMilliseconds: Int32 = 10_000) throws {
        var exchange = KeyExchange.Initiator(key: key, cluster: cluster)
        let limit = decoder.maximumFrameSize
        decoder.maximumFrameSize = KeyExchange.preAuthenticationFrameLimit
        try send(exchange.hello)
        let proof = try exchange.respond(to: try receiveDuringExchange(timeoutMilliseconds))
        try send(proof)
        let keys = try exchange.finish(try receiveDuringExchange(timeoutMilliseconds))
        sending.withLock { $0.sealer = keys.makeSealer() }
        decoder.seal(with: keys.makeOpener())
        decoder.maximumFrameSize = limit
    }

    private func receiveDuringExchange(_ timeoutMilliseconds: Int32) throws -> Frame {
        switch try receive(timeoutMilliseconds: timeoutMilliseconds) {
        case .frame(let frame): return frame
        case .closed: throw KeyExchangeError.refused("the connection closed during the key exchange")
        case .timedOut, .woken: throw KeyExchangeError.refused("no answer within \(timeoutMilliseconds / 1000) s")
        }
    }

    /// Shuts both directions down, waking a thread blocked in ``receive()``.
    public func shutdown() {
        Glibc.shutdown(descriptor.rawValue, Int32(SHUT_RDWR))
    }
}
