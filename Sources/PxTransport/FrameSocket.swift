import PxPlatform
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
    private var decoder: FrameDecoder
    private let readBuffer: UnsafeMutableRawBufferPointer
    private let sendBuffer = Mutex<Bytes>([])

    /// Takes ownership of a connected descriptor.
    public init(_ descriptor: FileDescriptor, maximumFrameSize: Int = 1 << 31) {
        self.descriptor = descriptor
        self.decoder = FrameDecoder(maximumFrameSize: maximumFrameSize)
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
        try sendBuffer.withLock { (buffer: inout Bytes) throws in
            buffer.removeAll(keepingCapacity: true)
            for frame in frames { FrameEncoder.encode(frame, into: &buffer) }
            defer { if buffer.capacity > 1 << 20 { buffer = [] } }
            try descriptor.writeAll(buffer)
        }
    }

    // MARK: - Receiving

    /// Blocks until a whole frame arrives; nil when the peer has closed the connection.
    ///
    /// - Throws: ``FrameError`` for a malformed stream, ``SystemError`` for a failed read.
    public func receive() throws -> Frame? {
        while true {
            if let frame = try decoder.nextFrame() { return frame }
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

    /// Shuts both directions down, waking a thread blocked in ``receive()``.
    public func shutdown() {
        Glibc.shutdown(descriptor.rawValue, Int32(SHUT_RDWR))
    }
}
