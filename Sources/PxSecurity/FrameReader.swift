import PxWire

/// Frames from a byte stream that starts plain and may switch to sealed frames (TCP, once its key
/// exchange is done), fed in chunks of any size.
public struct FrameReader: Sendable {
    private var plain: FrameDecoder
    private var opener: FrameOpener?

    public init(maximumFrameSize: Int) {
        plain = FrameDecoder(maximumFrameSize: maximumFrameSize)
    }

    /// The largest frame accepted, plain or sealed.
    public var maximumFrameSize: Int {
        get { opener?.maximumFrameSize ?? plain.maximumFrameSize }
        set {
            plain.maximumFrameSize = newValue
            opener?.maximumFrameSize = newValue
        }
    }

    /// Whether frames must be sealed from now on.
    public var isSealed: Bool { opener != nil }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        if opener != nil { opener!.feed(bytes) } else { plain.feed(bytes) }
    }

    public mutating func feed<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if opener != nil { opener!.feed(bytes) } else { plain.feed(bytes) }
    }

    /// The next whole frame, or nil when more bytes are needed.
    ///
    /// - Throws: ``FrameError`` or ``SealError``; the stream is bad and its connection must close.
    public mutating func nextFrame() throws -> Frame? {
        if opener != nil { return try opener!.nextFrame() }
        return try plain.nextFrame()
    }

    /// Opens every later frame with `opener`, including bytes already received after the last
    /// plain frame.
    public mutating func seal(with opener: FrameOpener) {
        var opener = opener
        opener.maximumFrameSize = plain.maximumFrameSize
        opener.feed(plain.takeBufferedBytes())
        self.opener = opener
    }
}
